"""The sweep plan the workflow builds from a model's evaluation section, and the samples reader."""

import pandas as pd
import pytest

from s1flow.errors import ConfigError, InputFileError
from s1flow.sweep import SAMPLE_COLUMNS, plan_from_config, read_samples, samples_frame


def test_plan_from_a_models_evaluation_section():
    plan = plan_from_config({"caps": [64, "auto"], "waits": [0, 1], "rejection_caps": [32], "majority_samples": 4,
                             "majority_cap": 16, "sampling_temperature": 0.7}, seed=3)
    assert [s.name for s in plan.settings] == ["cap=64", "cap=64,wait=1", "cap=auto", "cap=auto,wait=1"]
    assert plan.rejection_caps == [32] and plan.majority_samples == 4 and plan.majority_cap == 16
    assert plan.majority_sampling.temperature == 0.7 and plan.majority_sampling.seed == 3
    # the paper's majority vote: every sample may think up to the auto cap
    assert plan_from_config({"majority_samples": 64}, seed=0).majority_cap == "auto"


def test_waits_only_at_the_wait_caps():
    """s1's sweep: caps 500..16000 and auto, 1/2/4/6 Waits on cap auto alone (11 settings, not 35)."""
    plan = plan_from_config({"caps": [500, 1000, "auto"], "waits": [0, 1, 2, 4, 6], "wait_caps": ["auto"]}, seed=0)
    assert [s.name for s in plan.settings] == ["cap=500", "cap=1000", "cap=auto", "cap=auto,wait=1",
                                               "cap=auto,wait=2", "cap=auto,wait=4", "cap=auto,wait=6"]
    grid = plan_from_config({"caps": [500, "auto"], "waits": [0, 1], "wait_caps": []}, seed=0)
    assert [s.name for s in grid.settings] == ["cap=500", "cap=500,wait=1", "cap=auto", "cap=auto,wait=1"]
    with pytest.raises(ConfigError, match=r"wait caps \[2000\] are not among the caps"):
        plan_from_config({"caps": [500, "auto"], "waits": [0, 1], "wait_caps": [2000]}, seed=0)


def test_open_plan_runs_every_setting_open():
    plan = plan_from_config({"caps": [256], "waits": [0], "majority_samples": 8, "majority_cap": 64, "open": True},
                            seed=1)
    assert [s.name for s in plan.settings] == ["open:cap=256"] and plan.open
    assert plan.fingerprint()["open"] is True
    assert plan.fingerprint() != plan_from_config({"caps": [256], "waits": [0], "majority_samples": 8,
                                                   "majority_cap": 64}, seed=1).fingerprint()
    with pytest.raises(ConfigError, match="no Waits"):
        plan_from_config({"caps": [256], "waits": [0, 1], "open": True}, seed=0)
    with pytest.raises(ConfigError, match="rejection"):
        plan_from_config({"caps": [256], "rejection_caps": [64], "open": True}, seed=0)


def test_plan_with_conditional_settings():
    cond = [{"condition": "tokens", "condition_value": 64, "cap": 256, "forced": False},
            {"condition": "tokens", "condition_value": 64, "cap": 64, "forced": True}]
    only = plan_from_config({"caps": [], "waits": [0], "conditional": cond}, seed=0)
    assert [s.name for s in only.settings] == ["tok=64", "tok=64,cap=64"]
    both = plan_from_config({"caps": [256], "conditional": [{"condition": "class", "condition_value": "long",
                                                             "cap": 256, "forced": False}]}, seed=0)
    assert [s.name for s in both.settings] == ["cap=256", "class=long"]
    with pytest.raises(ConfigError, match="expected the keys"):
        plan_from_config({"conditional": [{"condition": "tokens", "budget": 64}]}, seed=0)


def test_read_samples_checks_the_columns(tmp_path):
    rows = [{"qid": "q1", "setting": "cap=8", "budget": 8, "num_wait": 0, "sample": 0, "thinking": "t", "answer": "a",
             "thinking_tokens": 8, "finish": "cap", "extracted": "1", "correct": True}]
    samples_frame(rows).to_parquet(tmp_path / "ok.parquet")
    assert list(read_samples(tmp_path / "ok.parquet").columns) == SAMPLE_COLUMNS
    pd.DataFrame(rows).drop(columns=["correct"]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputFileError, match=r"bad\.parquet.*correct"):
        read_samples(tmp_path / "bad.parquet")
