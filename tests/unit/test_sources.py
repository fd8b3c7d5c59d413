import json

import datasets
import pandas as pd
import pytest

from s1flow.curate.sources import load_source
from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.evalsets import load_hub_eval_set, normalise_eval_set
from s1flow.io import write_table


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


def _words(tag, k=10):
    return " ".join(f"{tag}{i}" for i in range(k))


def test_paper_pool_with_s1s_four_sets_on_local_stand_ins(tmp_path, monkeypatch, repo):
    """The paper config's pool path on tiny local stand-ins that use the hub's field names."""
    import yaml

    from s1flow.curate.sources import presets
    from s1flow.stages.pool import run_build_pool, run_eval_set, run_load_source

    lcb = {f"test{k}.jsonl": [{"question_content": _words(f"lcb{k}_"), "difficulty": "hard",
                               "question_title": f"t{k}"}] for k in ("", "2", "3", "4")}
    hub = {
        ("AI-MO/aimo-validation-aime", None): [{"id": 0, "problem": _words("aime24_"), "answer": "1",
                                                "url": "u"}],
        ("Idavidrein/gpqa", "gpqa_diamond"): [{"Question": _words("gpqa_"), "Correct Answer": "A",
                                               "Explanation": "e"}],
        ("simplescaling/openaimath", None): [{"problem": _words("math500_"), "solution": "s",
                                              "answer": "3", "subject": "Algebra", "level": 5,
                                              "unique_id": "test/algebra/1.json"}],
        ("simplescaling/openaimath", "train"): [
            {"problem": p, "solution": "s", "subject": "Algebra", "level": 1, "type": "Algebra"}
            for p in ["Find " + _words("math500_"), _words("train_a"), "Also " + _words("lcb3_")]],
        ("0xharib/xword1", None): [{"instruction": "i", "input": f"### Clue: {_words(f'clue{i}_')} ({i})",
                                    "output": f"W{i}"} for i in range(5)],
        ("qq8933/AIME_1983_2024", None): [{"ID": "2022-1", "Year": 2022, "Problem Number": 1,
                                           "Question": _words("aime24_"), "Answer": "1", "Part": "I"},
                                          {"ID": "1983-2", "Year": 1983, "Problem Number": 2,
                                           "Question": _words("train_a"), "Answer": "2", "Part": None}],
    }
    calls = []

    def load(path, name=None, split=None, data_files=None, **kwargs):
        calls.append((path, name, split, data_files))
        if data_files is not None:
            rows = [r for f in ([data_files] if isinstance(data_files, str) else data_files) for r in lcb[f]]
        elif path == "simplescaling/openaimath" and split == "train":
            rows = hub[(path, "train")]
        else:
            rows = hub[(path, name)]
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", load)
    monkeypatch.setattr(presets.base, "XWORD_SAMPLE_SIZE", 2)
    cfg = yaml.safe_load((repo / "config" / "paper" / "s1-32b.yaml").read_text())
    evals = [e for e in cfg["eval_sets"] if e.get("decontaminate", True)]
    eval_files = []
    for spec in evals:
        out = tmp_path / "evalsets" / f"{spec['name']}.parquet"
        run_eval_set(spec, out)
        eval_files.append((spec["name"], out))
    assert ("livecodebench/code_generation_lite", None, "train",
            ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl"]) in calls
    specs = {s["name"]: s for s in cfg["sources"] if s["name"] in ("openaimath", "xword", "aime_1983_2024")}
    source_files = []
    for name, spec in specs.items():
        out = tmp_path / "sources" / f"{name}.parquet"
        run_load_source(spec, out, seed=cfg["seed"])
        source_files.append((name, out))
    run_build_pool(source_files, eval_files, tmp_path / "pool.parquet", tmp_path / "report.json",
                   specs=specs, decontamination=cfg["decontamination"])
    pool = pd.read_parquet(tmp_path / "pool.parquet")
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(report["eval_sets"]) == sorted(["gpqa_diamond", "aimo_validation_aime", "openaimath_test",
                                                  "livecodebench_v4"])
    math = report["sources"]["openaimath"]
    # the MATH500 copy and the release_v3 LiveCodeBench question (inside release_v4) are removed
    assert (math["eval_overlap"], math["eval_overlap_by_set"]) == (2, {"openaimath_test": 1,
                                                                       "livecodebench_v4": 1})
    xword = report["sources"]["xword"]
    assert (xword["input"], xword["not_sampled"], xword["kept"]) == (5, 3, 2)
    # AIME comes last and as it is: its AIME 2022 problem (in aimo-validation-aime) stays; its
    # raw copy of a MATH question goes in the final exact pass, the MATH one kept
    aime = report["sources"]["aime_1983_2024"]
    assert (aime["eval_overlap"], aime["exact_duplicate"], aime["kept"]) == (0, 1, 1)
    assert pool["source"].tolist()[-1] == "qq8933/AIME_1983_2024"
    assert pool["question"].tolist()[-1] == _words("aime24_")
    assert pool["question"].tolist()[0] == _words("train_a")
    assert pool["qhash"].is_unique and len(pool) == 4
