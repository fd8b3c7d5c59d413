"""The report rules (workflow/rules/report.smk): the paper's tables and figures from the sweeps' samples.

Each reads the samples tables of its (model, eval set, replicate) triples and writes its outputs atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from s1flow.config.sweeps import ablation_setting, open_setting
from s1flow.errors import ConfigError
from s1flow.generate.sweep import read_samples
from s1flow.report.ablation import ablation_table, write_ablation
from s1flow.report.claims import claims_table, standard_comparisons, write_claims
from s1flow.report.compute import matched_tokens, token_table, write_compute
from s1flow.report.methods import method_points, methods_table, write_methods
from s1flow.report.replicates import Replicate, Replicated
from s1flow.report.sampling import sampling_table, write_sampling
from s1flow.report.scaling_plot import plot_scaling

PathLike = str | os.PathLike
#: one entry per samples file: [model, eval set, replicate] (the training seed, or None for a model
#: evaluated once); a [model, eval set] pair is replicate None
Tables = Sequence[Sequence[Any]]


def _entry(entry: Sequence[Any]) -> tuple[str, str, Replicate]:
    """An entry of `tables` as (model, eval set, replicate)."""
    if isinstance(entry, str) or len(entry) not in (2, 3):
        raise ConfigError(f"report tables: expected [model, evalset] or [model, evalset, replicate], got {entry!r}")
    replicate = entry[2] if len(entry) == 3 else None
    if replicate is not None and (isinstance(replicate, bool) or not str(replicate).lstrip("-").isdigit()):
        raise ConfigError(f"report tables: the replicate of {list(entry)} must be a training seed (int) or None")
    return str(entry[0]), str(entry[1]), None if replicate is None else int(replicate)


def read_tables(tables: Tables, files: Sequence[PathLike]) -> Replicated:
    """(model, eval set) -> {replicate: its samples table}, checked (an error names the file), in the order given."""
    out: Replicated = {}
    for entry, path in zip(tables, files, strict=True):
        model, evalset, replicate = _entry(entry)
        reps = out.setdefault((model, evalset), {})
        if replicate in reps:
            raise ConfigError(f"report tables: model '{model}' on eval set '{evalset}' is listed twice for "
                              f"replicate {replicate}")
        if reps and (replicate is None or None in reps):
            raise ConfigError(f"report tables: model '{model}' on eval set '{evalset}' has both a single run "
                              "(replicate None) and training-seed replicates")
        reps[replicate] = read_samples(path)
    return out


def run_ablation(tables: Tables, files: Sequence[PathLike], *, evaluation: Mapping[str, Any],
                 open_models: Sequence[str], reference: str, n_resamples: int, seed: int, md: PathLike,
                 csv: PathLike, tex: PathLike) -> None:
    """The data-ablation table (Table 2): every model at the ablation setting (an open model at its own
    response), replicate means with nested paired-bootstrap intervals against `reference`."""
    own = {m: open_setting(evaluation).name for m in open_models}
    table = ablation_table(read_tables(tables, files), setting=ablation_setting(evaluation).name,
                           reference=reference, n_resamples=n_resamples, seed=seed, model_settings=own)
    write_ablation(table, md=md, csv=csv, tex=tex)


def run_methods(tables: Tables, files: Sequence[PathLike], *, md: PathLike, csv: PathLike, n_resamples: int,
                seed: int) -> None:
    """The test-time scaling method comparison (Table 3), with nested-bootstrap intervals."""
    write_methods(methods_table(read_tables(tables, files), n_resamples=n_resamples, seed=seed), md=md, csv=csv)


def run_scaling_figure(tables: Tables, files: Sequence[PathLike], *, png: PathLike, pdf: PathLike,
                       n_resamples: int, seed: int) -> None:
    """The scaling figure (Figures 1 and 4-6), each point with its nested-bootstrap interval."""
    plot_scaling(method_points(read_tables(tables, files), n_resamples=n_resamples, seed=seed), png, pdf)


def run_sampling(tables: Tables, files: Sequence[PathLike], *, n_resamples: int, seed: int, md: PathLike,
                 csv: PathLike) -> None:
    """cov@n, maj@n, pass@k and avg@N of the sampled settings, with nested-bootstrap intervals."""
    write_sampling(sampling_table(read_tables(tables, files), n_resamples=n_resamples, seed=seed), md=md, csv=csv)


def run_compute(tables: Tables, files: Sequence[PathLike], *, md: PathLike, csv: PathLike,
                matched_csv: PathLike) -> None:
    """Generated tokens per setting, and sequential against parallel scaling at matched tokens."""
    samples = read_tables(tables, files)
    write_compute(token_table(samples), matched_tokens(samples), md=md, csv=csv, matched_csv=matched_csv)


def run_claims(tables: Tables, files: Sequence[PathLike], *, evaluation: Mapping[str, Any], reference: str,
               evalsets: Sequence[str], scaling_models: Sequence[str], ablation_models: Sequence[str],
               open_models: Sequence[str], n_resamples: int, seed: int, md: PathLike, csv: PathLike) -> None:
    """The README's comparisons with nested paired intervals (s1flow.report.claims)."""
    comparisons = standard_comparisons(evaluation, reference=reference, evalsets=evalsets,
                                       scaling_models=scaling_models, ablation_models=ablation_models,
                                       open_models=open_models)
    write_claims(claims_table(read_tables(tables, files), comparisons, n_resamples=n_resamples, seed=seed),
                 md=md, csv=csv)
