"""The report rules (workflow/rules/report.smk): the paper's tables and figures from the sweeps' samples.

Each reads the samples tables of its (model, eval set) pairs and writes its outputs atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from s1flow.config.sweeps import ablation_setting, open_setting
from s1flow.generate.sweep import read_samples
from s1flow.report.ablation import ablation_table, write_ablation
from s1flow.report.compute import matched_tokens, token_table, write_compute
from s1flow.report.methods import method_points, methods_table, write_methods
from s1flow.report.sampling import sampling_table, write_sampling
from s1flow.report.scaling_plot import plot_scaling

PathLike = str | os.PathLike
Tables = Sequence[tuple[str, str]]


def read_tables(tables: Tables, files: Sequence[PathLike]) -> dict[tuple[str, str], pd.DataFrame]:
    """(model, eval set) -> its samples table, checked (an error names the file)."""
    return {(str(m), str(e)): read_samples(path) for (m, e), path in zip(tables, files, strict=True)}


def run_ablation(tables: Tables, files: Sequence[PathLike], *, evaluation: Mapping[str, Any],
                 open_models: Sequence[str], reference: str, n_resamples: int, seed: int, md: PathLike,
                 csv: PathLike, tex: PathLike) -> None:
    """The data-ablation table (Table 2): every model at the ablation setting (an open model at its own
    response), with paired-bootstrap intervals against `reference`."""
    own = {m: open_setting(evaluation).name for m in open_models}
    table = ablation_table(read_tables(tables, files), setting=ablation_setting(evaluation).name,
                           reference=reference, n_resamples=n_resamples, seed=seed, model_settings=own)
    write_ablation(table, md=md, csv=csv, tex=tex)


def run_methods(tables: Tables, files: Sequence[PathLike], *, md: PathLike, csv: PathLike) -> None:
    """The test-time scaling method comparison (Table 3)."""
    write_methods(methods_table(read_tables(tables, files)), md=md, csv=csv)


def run_scaling_figure(tables: Tables, files: Sequence[PathLike], *, png: PathLike, pdf: PathLike) -> None:
    """The scaling figure (Figures 1 and 4-6)."""
    plot_scaling(method_points(read_tables(tables, files)), png, pdf)


def run_sampling(tables: Tables, files: Sequence[PathLike], *, n_resamples: int, seed: int, md: PathLike,
                 csv: PathLike) -> None:
    """cov@n, maj@n, pass@k and avg@N of the sampled settings, with nested-bootstrap intervals."""
    write_sampling(sampling_table(read_tables(tables, files), n_resamples=n_resamples, seed=seed), md=md, csv=csv)


def run_compute(tables: Tables, files: Sequence[PathLike], *, md: PathLike, csv: PathLike,
                matched_csv: PathLike) -> None:
    """Generated tokens per setting, and sequential against parallel scaling at matched tokens."""
    samples = read_tables(tables, files)
    write_compute(token_table(samples), matched_tokens(samples), md=md, csv=csv, matched_csv=matched_csv)
