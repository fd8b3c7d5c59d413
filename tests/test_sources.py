import datasets
import pandas as pd
import pytest

from s1flow.errors import ConfigError, InputFileError
from s1flow.evalsets import load_hub_eval_set, normalise_eval_set
from s1flow.io import write_table
from s1flow.sources import load_source


@pytest.fixture
def local_hub(tmp_path):
    """A load_dataset stand-in serving local json files by hub id, recording the calls."""
    calls = []

    def load(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return datasets.load_dataset("json", data_files=str(tmp_path / f"{path.replace('/', '__')}.jsonl"),
                                     split="train")

    load.calls = calls
    return load


def test_generic_hub_source_maps_fields(tmp_path, local_hub):
    write_table(pd.DataFrame({"problem": ["p1", "p2"], "answer": ["1", "2"], "topic": ["alg", "geo"]}),
                tmp_path / "org__data.jsonl")
    spec = {"name": "mine", "kind": "hub", "dataset": "org/data", "config": "cfg", "split": "test",
            "fields": {"question": "problem", "solution": "answer", "domain": "topic"}, "cot_type": "science"}
    df = load_source(spec, load_dataset=local_hub)
    assert local_hub.calls == [("org/data", "cfg", "test")]
    assert df["question"].tolist() == ["p1", "p2"] and df["domain"].tolist() == ["alg", "geo"]
    assert set(df["source"]) == {"org/data/cfg"} and set(df["cot_type"]) == {"science"}


def test_hub_preset_goes_through_the_loader(tmp_path, local_hub):
    write_table(pd.DataFrame({"Question": ["What is 2+2?", "Shown below"], "Answer": [4, 5],
                              "Answer_type": ["integer", "integer"], "Picture": [None, "a.png"],
                              "field": ["Math", "Math"], "subfield": ["Arithmetic", "Geometry"]}),
                tmp_path / "TIGER-Lab__TheoremQA.jsonl")
    df = load_source({"name": "tqa", "kind": "hub", "preset": "theoremqa"}, load_dataset=local_hub)
    assert local_hub.calls == [("TIGER-Lab/TheoremQA", None, "test")]
    assert df["question"].tolist() == ["What is 2+2?"]


def test_file_source_limit_and_errors(tmp_path):
    write_table(pd.DataFrame({"q": ["a", "b", "c"]}), tmp_path / "q.csv")
    df = load_source({"name": "x", "kind": "file", "path": str(tmp_path / "q.csv"), "fields": {"question": "q"},
                      "limit": 2})
    assert df["question"].tolist() == ["a", "b"] and set(df["source"]) == {"x"}
    with pytest.raises(ConfigError, match="'path' is required"):
        load_source({"name": "x", "kind": "file"})
    with pytest.raises(ConfigError, match="unknown kind 'ftp'"):
        load_source({"name": "x", "kind": "ftp"})
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_source({"name": "x", "kind": "file", "path": str(tmp_path / "q.csv"), "preset": "nope"})
    with pytest.raises(InputFileError, match=r"q.csv: missing column\(s\) \['question'\]|q.csv.*'question'"):
        load_source({"name": "x", "kind": "file", "path": str(tmp_path / "q.csv")})


def test_eval_sets_recognise_usual_field_names(tmp_path, local_hub, shared_data):
    gpqa = pd.read_csv(shared_data / "eval" / "gpqa_diamond.csv")
    ev = normalise_eval_set(gpqa, where="gpqa_diamond.csv")
    assert len(ev) == 198 and ev["question"].tolist() == gpqa["Question"].tolist()
    assert ev["answer"].tolist() == gpqa["Correct Answer"].astype(str).tolist()
    write_table(pd.DataFrame({"id": [1], "problem": ["Find x."], "answer": ["3"]}),
                tmp_path / "simplescaling__aime24_nofigures.jsonl")
    hub = load_hub_eval_set("simplescaling/aime24_nofigures", None, "train", load_dataset=local_hub)
    assert hub.to_dict("records") == [{"id": "1", "question": "Find x.", "answer": "3"}]
    with pytest.raises(InputFileError, match="no question field"):
        normalise_eval_set(pd.DataFrame({"text": ["a"]}), where="e.csv")
