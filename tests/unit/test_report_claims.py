"""Claims with nested paired intervals (s1flow.report.claims)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from conftest import REPO

from s1flow.config import validated
from s1flow.errors import ConfigError, InputFileError
from s1flow.report.claims import CLAIM_COLUMNS, Comparison, claims_markdown, claims_table, standard_comparisons


def samples(setting: str, correct: list[bool], qids: list[str] | None = None) -> pd.DataFrame:
    qids = qids or [f"q{i}" for i in range(len(correct))]
    return pd.DataFrame({"qid": qids, "setting": setting, "sample": 0, "extracted": "1", "correct": correct})


def test_replicate_means_and_a_difference_whose_interval_excludes_zero():
    tables = {("s1k", "e"): {1: samples("cap=256", [True, True, False, False] * 5),
                             2: samples("cap=256", [True, False, False, False] * 5)},
              ("base", "e"): samples("open:cap=256", [False] * 20)}
    table = claims_table(tables, [Comparison("s1k beats base", "e", "s1k", "cap=256", "base", "open:cap=256")],
                         n_resamples=2000, seed=0)
    assert list(table.columns) == CLAIM_COLUMNS
    row = table.iloc[0]
    # (10 + 5) of 40 (question, seed) cells against none
    assert row["accuracy"] == pytest.approx(37.5) and row["versus_accuracy"] == 0
    assert row["difference"] == pytest.approx(37.5) and row["replicates"] == "2/1" and row["n_questions"] == 20
    assert 0 < row["low"] < 37.5 < row["high"] and bool(row["holds"])


def test_equal_accuracies_do_not_hold():
    same = samples("cap=32", [True, False] * 10)
    tables = {("s1k", "e"): pd.concat([same, same.assign(setting="cap=256")])}
    row = claims_table(tables, [Comparison("rises", "e", "s1k", "cap=256", "s1k", "cap=32")],
                       n_resamples=500, seed=1).iloc[0]
    # paired on every question: each resample's difference is exactly zero
    assert (row["difference"], row["low"], row["high"]) == (0, 0, 0) and not row["holds"]
    assert "| rises (`cap=256` vs `cap=32`) | 50.0 | 50.0 | 0.0 [0.0, 0.0] | no |" in claims_markdown(
        claims_table(tables, [Comparison("rises", "e", "s1k", "cap=256", "s1k", "cap=32")], n_resamples=10, seed=1))


def test_different_questions_or_a_missing_setting_are_errors():
    tables = {("a", "e"): samples("s", [True, False]), ("b", "e"): samples("s", [True, False], ["q0", "x"])}
    with pytest.raises(InputFileError, match="model 'b'.*questions differ"):
        claims_table(tables, [Comparison("c", "e", "a", "s", "b", "s")], n_resamples=10, seed=0)
    with pytest.raises(ConfigError, match="no rows for setting 'cap=9'"):
        claims_table(tables, [Comparison("c", "e", "a", "cap=9", "b", "s")], n_resamples=10, seed=0)


def test_the_default_configs_comparisons():
    cfg = validated(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    comps = standard_comparisons(cfg["evaluation"], reference="s1k", evalsets=["synth_steps"],
                                 scaling_models=["s1k"], ablation_models=["s1k", "random", "diverse", "longest",
                                                                          "full", "base"], open_models=["base"])
    assert [(c.claim, c.setting, c.versus_model, c.versus_setting) for c in comps] == [
        ("s1k rises from cap 32 to cap 256", "cap=256", "s1k", "cap=32"),
        ("s1k beats base", "cap=256", "base", "open:cap=256"),
        ("s1k beats random", "cap=256", "random", "cap=256"),
        ("s1k beats diverse", "cap=256", "diverse", "cap=256"),
        ("s1k beats longest", "cap=256", "longest", "cap=256"),
        ("s1k beats full", "cap=256", "full", "cap=256"),
        ("one Wait helps s1k at cap 256", "cap=256,wait=1", "s1k", "cap=256"),
    ]
