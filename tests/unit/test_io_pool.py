import json

import pandas as pd
import pytest

from s1flow.curate.pool import metadata_json, normalise_records, question_hash, validate_pool, with_qhash
from s1flow.errors import InputFileError
from s1flow.io import read_table, write_parquet, write_table


@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "json", "csv"])
def test_read_table_round_trips_every_format(tmp_path, suffix):
    df = pd.DataFrame({"question": ["a", "b"], "answer": ["1", "2"]})
    path = tmp_path / f"t.{suffix}"
    write_table(df, path)
    back = read_table(path)
    assert back["question"].tolist() == ["a", "b"]
    assert back["answer"].astype(str).tolist() == ["1", "2"]


def test_read_table_errors_name_the_file(tmp_path):
    with pytest.raises(InputFileError, match="missing.jsonl: file not found"):
        read_table(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputFileError, match="empty.jsonl: the table is empty"):
        read_table(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a"}\n{not json\n')
    with pytest.raises(InputFileError, match=r"bad.jsonl:2: invalid JSON"):
        read_table(bad)
    wrong = tmp_path / "t.txt"
    wrong.write_text("x")
    with pytest.raises(InputFileError, match="t.txt"):
        read_table(wrong)
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"not parquet")
    with pytest.raises(InputFileError, match="g.parquet: cannot read as parquet"):
        read_table(garbage)


def test_write_parquet_is_atomic(tmp_path):
    out = tmp_path / "o.parquet"

    class Boom:
        pass

    with pytest.raises(Exception):  # noqa: B017 - pyarrow raises its own type for unconvertible objects
        write_parquet(pd.DataFrame({"x": [Boom()]}), out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_question_hash_matches_s1(shared_data):
    rows = json.loads((shared_data / "s1" / "s1k_questions_solutions.json").read_text())
    q = next(r["problem"] for r in rows if r["problem"].startswith("Let  $a,b,A,B$  be given reals."))
    assert question_hash(q) == "329b4f5d56d005d3"


def test_normalise_records_maps_fields_and_keeps_the_rest_as_json():
    raw = pd.DataFrame({"Q": ["What is 1+1?"], "A": [2], "subj": ["algebra"], "extra": [[1, 2]],
                        "code": ["__import__('os').system('echo hacked')"]})
    out = normalise_records(raw, where="f.json", question="Q", solution="A", domain="subj", cot_type="math",
                            source="mine")
    row = out.iloc[0]
    assert (row["question"], row["solution"], row["domain"], row["source"]) == ("What is 1+1?", "2", "algebra",
                                                                                 "mine")
    meta = json.loads(row["metadata"])
    assert meta == {"extra": [1, 2], "code": "__import__('os').system('echo hacked')"}
    validate_pool(with_qhash(out), "x")


@pytest.mark.parametrize("value,msg", [(None, "is null in row 1"), (3, "must hold strings; row 1")])
def test_bad_questions_are_reported_with_row(value, msg):
    raw = pd.DataFrame({"question": ["ok", value]}, dtype=object)
    with pytest.raises(InputFileError, match=msg):
        normalise_records(raw, where="pool.jsonl", source="s")


def test_missing_field_is_named():
    with pytest.raises(InputFileError, match=r"pool.csv: missing column\(s\) \['answer'\]"):
        normalise_records(pd.DataFrame({"question": ["q"]}), where="pool.csv", solution="answer", source="s")


def test_metadata_json_handles_numpy_and_nan():
    import numpy as np

    assert json.loads(metadata_json({"a": np.int64(3), "b": float("nan"), "c": np.array([1.5])})) == {
        "a": 3, "b": None, "c": [1.5]}
