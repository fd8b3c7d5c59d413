import hashlib
import json
import subprocess
import sys

import pandas as pd
import pytest

from s1flow.cli import main
from s1flow.io import write_table


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "s1flow.cli", *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def files(tmp_path):
    ev = "find the number of ordered pairs of positive integers x and y"
    pool = pd.DataFrame({"question": ["Intro: " + ev + " with x < y", "a clean question with more than eight words",
                                      "a clean question with more than eight words", "short"],
                         "source": ["a", "a", "b", "b"]})
    write_table(pool, tmp_path / "pool.csv")
    write_table(pd.DataFrame({"problem": [ev], "answer": ["3"]}), tmp_path / "eval.jsonl")
    write_table(pd.DataFrame({"question": ["short"]}), tmp_path / "eval2.parquet")
    return tmp_path


def test_decontaminate_command(files):
    out = files / "clean.jsonl"
    code = main(["decontaminate", "--pool", str(files / "pool.csv"), "--against", f"{files / 'eval.jsonl'}:problem",
                 str(files / "eval2.parquet"), "--ngram", "8", "--out", str(out), "--report", str(files / "r.json")])
    assert code == 0
    kept = pd.read_json(out, lines=True)
    assert kept["question"].tolist() == ["a clean question with more than eight words"]
    report = json.loads((files / "r.json").read_text())
    assert report["totals"] == {"input": 4, "eval_overlap": 2, "cross_source_overlap": 0, "not_sampled": 0,
                                "exact_duplicate": 1, "kept": 1}


def test_decontaminate_bad_field_fails_cleanly(files):
    out = files / "clean.parquet"
    r = run_cli("decontaminate", "--pool", files / "pool.csv", "--against", f"{files / 'eval.jsonl'}:prob",
                "--out", out)
    assert r.returncode == 2
    assert "eval.jsonl" in r.stderr and "'prob'" in r.stderr
    assert not out.exists()


def test_source_features_select_chain(files, tmp_path):
    raw = pd.DataFrame({"problem": [f"problem {i}: compute {i} plus {i * 3} and explain" for i in range(60)],
                        "answer": [str(4 * i) for i in range(60)], "subject": [f"s{i % 5}" for i in range(60)]})
    write_table(raw, tmp_path / "raw.json")
    assert main(["source", "--path", str(tmp_path / "raw.json"), "--question-field", "problem", "--solution-field",
                 "answer", "--domain-field", "subject", "--out", str(tmp_path / "src.parquet")]) == 0
    from s1flow.curate.tokenizer import train_bpe_tokenizer

    train_bpe_tokenizer(raw["problem"].tolist(), tmp_path / "tok", vocab_size=300)
    # a source table has no qhash: features computes it, as for a pool (sha256 of the question, 16 hex digits)
    assert main(["features", "--pool", str(tmp_path / "src.parquet"), "--tokenizer", str(tmp_path / "tok"),
                 "--trace-fallback", "solution", "--out", str(tmp_path / "f.parquet")]) == 0
    features = pd.read_parquet(tmp_path / "f.parquet")
    first = raw["problem"][0]
    assert features["qhash"][0] == hashlib.sha256(first.encode("utf-8")).hexdigest()[:16]
    for subset in ("s1k", "random", "diverse", "longest", "full"):
        out = tmp_path / f"{subset}.parquet"
        assert main(["select", "--features", str(tmp_path / "f.parquet"), "--subset", subset, "--size", "10",
                     "--seed", "1", "--out", str(out)]) == 0
        got = pd.read_parquet(out)
        assert len(got) == (60 if subset == "full" else 10)


def test_select_rejects_a_table_without_trace_tokens(tmp_path):
    write_table(pd.DataFrame({"qhash": ["a"], "question": ["q"], "source": ["s"], "domain": ["d"]}),
                tmp_path / "f.csv")
    r = run_cli("select", "--features", tmp_path / "f.csv", "--subset", "s1k", "--size", "5", "--seed", "0",
                "--out", tmp_path / "o.parquet")
    assert r.returncode == 2 and "f.csv" in r.stderr and "trace_tokens" in r.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_presets_command_lists_sixteen_sources(capsys):
    assert main(["presets"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 16
