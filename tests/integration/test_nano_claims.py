"""The README's nano claims, checked on the default run from its samples tables.

Runs ``snakemake --cores 2`` on ``config/config.yaml`` exactly (the world of the README, seed 42)
in a temporary directory, then recomputes the claims from ``samples.parquet`` with their nested
paired intervals. A claim the README states must hold here: its whole 95 % interval lies above
zero. The README gives the same figures for world seeds 42, 43 and 44, measured by
``python benchmarks/default_run.py`` (docs/performance.md).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from report_tables import assert_same_table, recomputed_report, replicated

from s1flow.config import run_plan
from s1flow.report.claims import Comparison, claims_table

pytestmark = pytest.mark.integration

DEFAULT = REPO / "config" / "config.yaml"


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    """config/config.yaml run once from an empty directory: its results/ directory."""
    work = tmp_path_factory.mktemp("default")
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                        "--configfile", str(DEFAULT), "--cores", "2"], capture_output=True, text=True, cwd=work)
    assert r.returncode == 0, r.stderr[-3000:]
    print(f"\ndefault run: {time.monotonic() - start:.0f} s")
    return work / "results"


#: the claims the README states for world seeds 42, 43 and 44, checked here on the default run
#: (seed 42): "above" = the whole interval above zero; "below" = the whole interval below zero;
#: "not above" = the interval reaches zero or below (no evidence that the first is higher)
README_CLAIMS = [
    (Comparison("s1k rises from cap 32 to cap 256", "synth_steps", "s1k", "cap=256", "s1k", "cap=32"), "above"),
    (Comparison("s1k beats base", "synth_steps", "s1k", "cap=256", "base", "open:cap=256"), "above"),
    (Comparison("one Wait helps s1k at cap 256", "synth_steps", "s1k", "cap=256,wait=1", "s1k", "cap=256"),
     "below"),
    (Comparison("s1k rises from cap 32 to cap 256", "synth_mc", "s1k", "cap=256", "s1k", "cap=32"), "not above"),
    (Comparison("s1k beats base", "synth_mc", "s1k", "cap=256", "base", "open:cap=256"), "not above"),
]


def test_the_readme_claims_hold_with_their_intervals(default_run):
    config = yaml.safe_load(DEFAULT.read_text())
    plan = run_plan(config)
    pairs = sorted({(m, c.evalset) for c, _ in README_CLAIMS for m in (c.model, c.versus_model)})
    samples = replicated(default_run, plan, pairs)
    for _, tables in samples.items():  # at least 200 questions per swept eval set
        assert all(df["qid"].nunique() >= 200 for df in tables.values())
    claims = [c for c, _ in README_CLAIMS]
    table = claims_table(samples, claims, n_resamples=config["report"]["bootstrap_resamples"], seed=config["seed"])
    assert len(table) == len(claims)
    for (claim, direction), (_, row) in zip(README_CLAIMS, table.iterrows(), strict=True):
        assert (row["claim"], row["evalset"]) == (claim.claim, claim.evalset)
        holds = {"above": row["low"] > 0, "below": row["high"] < 0, "not above": row["low"] <= 0}[direction]
        assert holds, (f"{claim.evalset}: {claim.claim} ({direction}): {row['accuracy']:.1f} vs "
                       f"{row['versus_accuracy']:.1f}, difference {row['difference']:.1f} "
                       f"[{row['low']:.1f}, {row['high']:.1f}]")


def test_every_report_table_is_recomputed_from_the_samples(default_run):
    for name, table in recomputed_report(default_run, yaml.safe_load(DEFAULT.read_text())).items():
        assert_same_table(default_run / "report" / name, table)
