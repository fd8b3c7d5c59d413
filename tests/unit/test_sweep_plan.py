"""The sweep a model runs (s1flow.config.ModelSweep, from its evaluation section), and the samples reader."""

from dataclasses import replace

import pandas as pd
import pytest

from s1flow.config import ConditionalSpec, ModelSweep, validated
from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.setting import Conditional, Forced, Open, Rejection, Vote
from s1flow.generate.sweep import SAMPLE_COLUMNS, read_samples, samples_frame


def sweep(role="scaling", parallel=False, conditional=(), **evaluation):
    """A model's sweep from an evaluation section with the schema's defaults for what it does not set."""
    section = validated({"evaluation": evaluation})["evaluation"]
    return ModelSweep.from_evaluation(section, role=role, parallel=parallel, conditional=conditional)


def names(plan):
    return [s.name for s in plan.settings]


def test_plan_of_a_scaling_model():
    plan = sweep(caps=[64, "auto"], waits=[0, 1], rejection_caps=[32], majority_samples=4, majority_cap=16,
                 sampling_temperature=0.7, parallel=True).sweep_plan(seed=3)
    assert names(plan) == ["cap=64", "cap=64,wait=1", "cap=auto", "cap=auto,wait=1"]
    assert plan.rejections == [Rejection(cap=32)] and plan.vote == Vote(samples=4, cap=16)
    assert plan.vote_sampling.temperature == 0.7 and plan.vote_sampling.seed == 3
    assert plan.rejection_sampling.temperature == 0.7 and plan.sampling.temperature == 0.0
    # the paper's majority vote: every sample may think up to the auto cap
    assert sweep(majority_samples=64, parallel=True).sweep_plan(seed=0).vote.cap == "auto"
    # only a parallel model votes; only a scaling model runs the grid and rejection sampling
    other = sweep(caps=[64, "auto"], waits=[0, 1], rejection_caps=[32], majority_samples=4,
                  ablation={"cap": 64, "waits": 1}, role="ablation").sweep_plan(seed=3)
    assert names(other) == ["cap=64,wait=1"] and other.rejections == [] and other.vote is None


def test_waits_only_at_the_wait_caps():
    """s1's sweep: caps 500..16000 and auto, 1/2/4/6 Waits on cap auto alone (11 settings, not 35)."""
    plan = sweep(caps=[500, 1000, "auto"], waits=[0, 1, 2, 4, 6], wait_caps=["auto"]).sweep_plan(seed=0)
    assert names(plan) == ["cap=500", "cap=1000", "cap=auto", "cap=auto,wait=1", "cap=auto,wait=2",
                           "cap=auto,wait=4", "cap=auto,wait=6"]
    grid = sweep(caps=[500, "auto"], waits=[0, 1], wait_caps=[]).sweep_plan(seed=0)
    assert names(grid) == ["cap=500", "cap=500,wait=1", "cap=auto", "cap=auto,wait=1"]
    with pytest.raises(ConfigError, match=r"wait caps \[2000\] are not among the caps"):
        replace(grid_sweep := sweep(caps=[500, "auto"], waits=[0, 1]), wait_caps=(2000,)).sweep_plan(seed=0)
    assert grid_sweep.wait_caps == ()


def test_open_plan_runs_every_setting_open():
    own = sweep(ablation={"cap": 256, "waits": 0}, majority_samples=8, majority_cap=64, role="open", parallel=True)
    plan = own.sweep_plan(seed=1)
    assert names(plan) == ["open:cap=256"] and plan.open
    assert plan.fingerprint()["open"] is True
    forced = sweep(ablation={"cap": 256, "waits": 0}, majority_samples=8, majority_cap=64, role="ablation",
                   parallel=True)
    assert plan.fingerprint() != forced.sweep_plan(seed=1).fingerprint()
    with pytest.raises(ConfigError, match="no Waits"):
        replace(own, waits=(0, 1)).sweep_plan(seed=0)
    with pytest.raises(ConfigError, match="rejection"):
        replace(own, rejection_caps=(64,)).sweep_plan(seed=0)


def test_plan_with_conditional_settings():
    cond = (ConditionalSpec("tokens", 64, 256, forced=False), ConditionalSpec("tokens", 64, 64, forced=True))
    only = sweep(role="control", conditional=cond).sweep_plan(seed=0)
    assert names(only) == ["tok=64", "tok=64,cap=64"]
    both = sweep(ablation={"cap": 256, "waits": 0}, role="ablation",
                 conditional=(ConditionalSpec("class", "long", 256, forced=False),)).sweep_plan(seed=0)
    assert names(both) == ["cap=256", "class=long"]
    with pytest.raises(ConfigError, match="expected the keys"):
        ConditionalSpec.from_params({"condition": "tokens", "budget": 64})


def test_params_round_trip():
    """The sweep rule carries a model's sweep as plain values and the script rebuilds the same sweep."""
    cond = (ConditionalSpec("steps", 2, 32, forced=True), ConditionalSpec("class", "short", 128, forced=False))
    for s in (sweep(caps=[32, 64], waits=[0, 1], wait_caps=[64], rejection_caps=[32], conditional=cond),
              sweep(role="open", majority_samples=8, parallel=True), sweep(role="control", conditional=cond)):
        params = s.to_params()
        assert ModelSweep.from_params(params) == s
        assert ("conditional" in params) == bool(s.conditional)
    assert "open" not in sweep().to_params() and "wait_caps" not in sweep().to_params()
    with pytest.raises(ConfigError, match="missing key 'graded_text'"):
        ModelSweep.from_params({k: v for k, v in sweep().to_params().items() if k != "graded_text"})


def test_read_samples_checks_the_columns(tmp_path):
    rows = [{"qid": "q1", "setting": "cap=8", **Forced(cap=8).columns(), "budget": 8, "num_wait": 0,
             "samples_per_question": 1, "sample": 0, "thinking": "t", "answer": "a", "thinking_tokens": 8,
             "answer_tokens": 3, "finish": "cap", "extracted": "1", "correct": True}]
    samples_frame(rows).to_parquet(tmp_path / "ok.parquet")
    assert list(read_samples(tmp_path / "ok.parquet").columns) == SAMPLE_COLUMNS
    pd.DataFrame(rows).drop(columns=["correct"]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputFileError, match=r"bad\.parquet.*correct"):
        read_samples(tmp_path / "bad.parquet")
    # a table from before the setting columns existed: an error that says to rerun the sweep
    pd.DataFrame(rows).drop(columns=["method", "cap"]).to_parquet(tmp_path / "old.parquet")
    with pytest.raises(InputFileError, match=r"old\.parquet: no columns \['method', 'cap'\].*rerun"):
        read_samples(tmp_path / "old.parquet")


def test_setting_columns_of_each_kind():
    """The typed columns the report reads instead of the setting label (docs/file-formats.md)."""
    keys = ["method", "cap", "min_thinking", "condition", "stated_budget", "length_class", "forced"]
    cases = {
        Forced(cap=512, num_wait=2, min_thinking=8): ["budget_forcing", 512, 8, "", None, "", True],
        Forced(cap="auto"): ["budget_forcing", None, 0, "", None, "", True],
        Forced(cap="auto").resolved(900): ["budget_forcing", None, 0, "", None, "", True],
        Open(cap=256): ["open", 256, 0, "", None, "", False],
        Conditional(condition="tokens", condition_value=64, cap=64): ["conditional", 64, 0, "tokens", 64, "", True],
        Conditional(condition="steps", condition_value=4, cap=128, forced=False):
            ["conditional", 128, 0, "steps", 4, "", False],
        Conditional(condition="class", condition_value="long", cap=128, forced=False):
            ["conditional", 128, 0, "class", None, "long", False],
        Rejection(cap=128): ["rejection_sampling", 128, 0, "", None, "", True],
        Vote(samples=8, cap=64, open=True): ["majority_vote", 64, 0, "", None, "", False],
    }
    for setting, expected in cases.items():
        assert [setting.columns()[k] for k in keys] == expected, setting.name
    resolved = Forced(cap="auto", num_wait=1).resolved(900)
    assert resolved.cap == 900 and resolved.name == "cap=auto,wait=1"
