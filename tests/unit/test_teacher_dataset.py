"""Teacher traces from an existing dataset (features.teacher: dataset): presets, hub and file loading, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from s1flow.curate.pool import question_hash
from s1flow.curate.sources.traces import TRACE_PRESETS, load_teacher_traces, resolve_spec
from s1flow.errors import ConfigError, InputFileError


class FakeDataset:
    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def to_pandas(self) -> pd.DataFrame:
        return self.df


def s1_shaped() -> pd.DataFrame:
    """Rows shaped like s1's released 59K traces: trajectories are lists holding one string."""
    return pd.DataFrame({
        "question": ["What is 2+2?", "Name a prime above 10.", "What is 2+2?", "Empty trace?"],
        "thinking_trajectories": [["Two and two make four."], ["11 is prime."], ["A duplicate."], [""]],
        "attempt": ["4", "11", "5", "?"],
        "cot_type": ["math"] * 4,
    })


def test_presets_name_s1s_released_datasets_and_columns():
    assert resolve_spec({"preset": "s1_59k"})["dataset"] == "simplescaling/data_ablation_full59K"
    r1 = resolve_spec({"preset": "s1k_1.1"})
    assert (r1["dataset"], r1["trace_field"], r1["attempt_field"]) == (
        "simplescaling/s1K-1.1", "deepseek_thinking_trajectory", "deepseek_attempt")
    # empty strings (the schema's defaults) mean "not set"; explicit keys override the preset
    own = resolve_spec({"preset": "s1k", "dataset": "", "split": "", "trace_field": "cot", "path": ""})
    assert (own["dataset"], own["split"], own["trace_field"]) == ("simplescaling/s1K", "train", "cot")
    local = resolve_spec({"preset": "s1_59k", "path": "copy.parquet"})
    assert "dataset" not in local and local["trace_field"] == "thinking_trajectories"
    assert set(TRACE_PRESETS) == {"s1_59k", "s1k", "s1k_1.1"}


@pytest.mark.parametrize("spec,match", [
    ({}, "give a hub 'dataset'"),
    ({"preset": "s2_100k"}, "unknown preset"),
    ({"dataset": "x/y", "trace": "cot"}, "unknown key"),
])
def test_bad_specs_name_the_config_key(spec, match):
    with pytest.raises(ConfigError, match=match) as e:
        resolve_spec(spec)
    assert "features.teacher_dataset" in str(e.value)


def test_hub_dataset_becomes_a_label_table():
    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        return FakeDataset(s1_shaped())

    labels = load_teacher_traces({"preset": "s1_59k"}, load_dataset=load_dataset)
    assert calls == [("simplescaling/data_ablation_full59K", None, "train")]
    assert list(labels.columns) == ["qhash", "trace", "attempt"]
    # one row per question (the first wins), rows without a trace dropped, s1's qhash of the question
    assert labels["qhash"].tolist() == [question_hash("What is 2+2?"), question_hash("Name a prime above 10.")]
    assert labels["trace"].tolist() == ["Two and two make four.", "11 is prime."]
    assert labels["attempt"].tolist() == ["4", "11"]


def test_local_file_with_own_columns(tmp_path):
    path = tmp_path / "r1.jsonl"
    pd.DataFrame({"problem": ["Q1", "Q2"], "reasoning": ["t1", "t2"]}).to_json(path, orient="records", lines=True)
    labels = load_teacher_traces({"path": str(path), "question_field": "problem", "trace_field": "reasoning"})
    assert labels.to_dict("list") == {"qhash": [question_hash("Q1"), question_hash("Q2")], "trace": ["t1", "t2"]}
    # relative paths are read from the working directory given
    again = load_teacher_traces({"path": "r1.jsonl", "question_field": "problem", "trace_field": "reasoning"},
                                base_dir=tmp_path)
    assert again.equals(labels)


def test_missing_columns_and_questions_are_clear_errors(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"question": ["Q1"], "cot": ["t"]}).to_csv(path, index=False)
    with pytest.raises(InputFileError, match=r"t.csv.*no column\(s\) \['trace'\].*trace_field"):
        load_teacher_traces({"path": str(path)})
    pd.DataFrame({"question": ["Q1", ""], "trace": ["t", "u"]}).to_csv(path, index=False)
    with pytest.raises(InputFileError, match="empty or non-text question"):
        load_teacher_traces({"path": str(path)})
    pd.DataFrame({"question": ["Q1"], "trace": [""]}).to_csv(path, index=False)
    with pytest.raises(InputFileError, match="no row has a trace"):
        load_teacher_traces({"path": str(path)})


def test_stage_writes_the_table_and_leaves_nothing_on_error(tmp_path):
    from s1flow.stages.labels import run_teacher_dataset

    src = tmp_path / "traces.parquet"
    s1_shaped().to_parquet(src)
    out = tmp_path / "labels" / "teacher_dataset.parquet"
    run_teacher_dataset({"preset": "s1_59k", "path": str(src)}, out)
    assert pd.read_parquet(out)["trace"].tolist() == ["Two and two make four.", "11 is prime."]
    bad = tmp_path / "labels" / "bad.parquet"
    with pytest.raises(InputFileError):
        run_teacher_dataset({"path": str(src), "trace_field": "nope"}, bad)
    assert not bad.exists()
