"""Every report table recomputed from the samples tables alone, and compared with the written CSVs.

Used by the end-to-end tests: a table that cannot be recomputed from ``samples.parquet`` with the
library's functions depends on something the samples do not record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from s1flow.config import run_plan
from s1flow.config.sweeps import ablation_setting, open_setting
from s1flow.generate.sweep import read_samples
from s1flow.report.ablation import ablation_table
from s1flow.report.claims import claims_table, standard_comparisons
from s1flow.report.compute import matched_tokens, token_table
from s1flow.report.methods import methods_table
from s1flow.report.sampling import sampling_table


def replicated(results: Path, plan, pairs) -> dict:
    """(model, eval set) -> {training seed: samples} for `pairs`, read from results/eval/<name>/<set>/."""
    out: dict = {}
    for name, model, evalset, seed in plan.with_replicates(pairs):
        out.setdefault((model, evalset), {})[seed] = read_samples(results / "eval" / name / evalset / "samples.parquet")
    return out


def recomputed_report(results: Path, config: dict) -> dict[str, pd.DataFrame]:
    """The report's CSV tables (file name -> table) computed from the samples under `results`."""
    plan = run_plan(config)
    cfg = plan.config
    evaluation, n, seed = cfg["evaluation"], cfg["report"]["bootstrap_resamples"], cfg["seed"]
    reference = cfg["report"]["reference"]
    own = {m: open_setting(evaluation).name for m in plan.open_models if m in plan.ablation_models}
    tables = {"ablation.csv": ablation_table(replicated(results, plan, plan.ablation_tables()),
                                             setting=ablation_setting(evaluation).name, reference=reference,
                                             n_resamples=n, seed=seed, model_settings=own)}
    comparisons = standard_comparisons(evaluation, reference=reference, evalsets=plan.swept_eval_sets,
                                       scaling_models=plan.scaling_models, ablation_models=plan.ablation_models,
                                       open_models=plan.open_models)
    claim_pairs = list(dict.fromkeys(plan.ablation_tables() + [(m, e) for m in plan.scaling_models
                                                              for e in plan.swept_eval_sets]))
    tables["claims.csv"] = claims_table(replicated(results, plan, claim_pairs), comparisons, n_resamples=n, seed=seed)
    if plan.method_tables():
        tables["methods.csv"] = methods_table(replicated(results, plan, plan.method_tables()), n_resamples=n,
                                              seed=seed)
    if plan.sampling_tables():
        tables["sampling.csv"] = sampling_table(replicated(results, plan, plan.sampling_tables()), n_resamples=n,
                                                seed=seed)
    every = replicated(results, plan, plan.compute_tables())
    tables["compute.csv"] = token_table(every)
    tables["matched.csv"] = matched_tokens(every)
    return tables


def assert_same_table(path: Path, expected: pd.DataFrame) -> None:
    """The CSV at `path` holds `expected` (numbers to 1e-9 relative, empty = NaN, text as written)."""
    written = pd.read_csv(path, keep_default_na=True)
    assert list(written.columns) == list(expected.columns), (path.name, list(written.columns))
    assert len(written) == len(expected), (path.name, len(written), len(expected))
    for col in expected.columns:
        want = expected[col].reset_index(drop=True)
        got = written[col]
        numeric = pd.to_numeric(want, errors="coerce")
        if want.dtype != bool and (numeric.notna() | want.isna()).all() and not (want.isna().all()):
            assert np.allclose(pd.to_numeric(got, errors="coerce").to_numpy(dtype=float),
                               numeric.to_numpy(dtype=float), rtol=1e-9, atol=1e-9, equal_nan=True), (path.name, col)
        else:
            def text(s: pd.Series) -> list[str]:
                return ["" if pd.isna(v) else str(v) for v in s]
            assert text(got) == text(want), (path.name, col)
