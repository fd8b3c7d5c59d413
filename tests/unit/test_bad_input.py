"""Bad input at every command: one message naming the file, column, argument or key, exit status 2,
no traceback, no output written, and no input changed.

Each case is (class, command, arguments, expected text). The classes are those of the README's
promise: `message` (a clear error instead of a crash), `overwrite` (an output that is an input),
`invariant` (one row per question, sizes >= 1, output formats). Config errors at start-up are in
test_config_plan.py and below (`test_config_errors_*`); the umask in `test_outputs_honour_the_umask`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from s1flow.cli import main
from s1flow.curate.tokenizer import train_bpe_tokenizer
from s1flow.io import write_table


def _pool_rows(n: int = 40) -> pd.DataFrame:
    questions = [f"question {i}: add {i} and {3 * i}, then explain every step of it" for i in range(n)]
    return pd.DataFrame({"question": questions, "solution": [str(4 * i) for i in range(n)],
                         "cot_type": "math", "source": [f"src{i % 3}" for i in range(n)], "metadata": "{}",
                         "domain": [f"d{i % 4}" for i in range(n)]})


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Valid inputs of every command: a question file, a pool, a feature table, an eval set, a tokenizer."""
    d = tmp_path_factory.mktemp("world")
    raw = _pool_rows()
    write_table(raw.rename(columns={"question": "problem", "solution": "answer"}), d / "raw.jsonl")
    train_bpe_tokenizer(raw["question"].tolist(), d / "tok", vocab_size=300)
    assert main(["source", "--path", str(d / "raw.jsonl"), "--question-field", "problem", "--solution-field",
                 "answer", "--out", str(d / "src.parquet")]) == 0
    assert main(["features", "--pool", str(d / "src.parquet"), "--tokenizer", str(d / "tok"), "--trace-fallback",
                 "solution", "--domain-fallback", "source", "--out", str(d / "features.parquet")]) == 0
    features = pd.read_parquet(d / "features.parquet")
    pd.concat([features, features.iloc[[3]]], ignore_index=True).to_parquet(d / "features_dup.parquet")
    bad_tokens = features.copy()
    bad_tokens["trace_tokens"] = bad_tokens["trace_tokens"].astype(str)
    bad_tokens.to_parquet(d / "features_str.parquet")
    pool = pd.read_parquet(d / "src.parquet")
    pool.insert(0, "qhash", features["qhash"])
    pd.concat([pool, pool.iloc[[5]]], ignore_index=True).to_parquet(d / "pool_dup.parquet")
    write_table(pd.DataFrame({"question": ["what is 2 + 2?"], "answer": ["4"]}), d / "eval.parquet")
    (d / "numbers.json").write_text("[1, 2, 3]\n")
    (d / "array_line.jsonl").write_text('{"question": "a question of ten words or so to read", "answer": "1"}\n'
                                        '["not", "a", "record"]\n')
    (d / "object.json").write_text('{"a": 1, "b": "x"}\n')
    (d / "afile").write_text("a regular file, not a directory\n")
    (d / "badvocab").mkdir()
    (d / "badvocab" / "vocab.json").write_text("[1, 2, 3]\n")
    (d / "badvocab" / "merges.txt").write_text("#version: 0.2\na b\n")
    (d / "truncated").mkdir()
    text = (d / "tok" / "tokenizer.json").read_text()
    (d / "truncated" / "tokenizer.json").write_text(text[: len(text) // 2])
    (d / "config.yaml").write_text("training:\n  base_model: Qwen/Qwen2.5-7B-Instruct\n  nodes: 1\n")
    write_table(pd.DataFrame({"qhash": ["a", "b"], "text": ["x", "y"], "tokens": ["12", "many"]}), d / "sft.parquet")
    (d / "link.jsonl").symlink_to(d / "raw.jsonl")
    for name, value in (("features_neg", -5), ("features_frac", 12.5)):
        odd = features.copy()
        odd["trace_tokens"] = odd["trace_tokens"].astype(float)
        odd.loc[2, "trace_tokens"] = value
        odd.to_parquet(d / f"{name}.parquet")
    (d / "badmerges").mkdir()
    (d / "badmerges" / "vocab.json").write_text('{"a": 0, "b": 1}\n')
    (d / "badmerges" / "merges.txt").write_text("#version: 0.2\nQQQ ZZZ\n")
    write_table(pd.DataFrame({"question": ["a real question with enough words to count here", "   "]}),
                d / "blank.jsonl")
    write_table(pd.DataFrame({"qhash": ["NOT-A-QHASH"], "trace": ["t"]}), d / "labels_other.parquet")
    (d / "tab.yaml").write_text("training:\n\tepochs: 5\n")
    (d / "dupkey.yaml").write_text("training:\n  epochs: 5\n  epochs: 6\n")
    (d / "unclosed.yaml").write_text("training: {nodes: 1\n")
    return d


# (class, command line with {w} for the world's folder and {out} for a fresh output path, expected text)
CASES = [
    # --- source
    ("message", "source --path {w}/numbers.json --out {out}.parquet", "item 0 is a number"),
    ("message", "source --path {w}/array_line.jsonl --out {out}.parquet",
     "array_line.jsonl:2: expected one JSON object"),
    ("message", "source --path {w}/object.json --out {out}.parquet", "expected a JSON list of records"),
    ("message", "source --path {w}/raw.jsonl --out {w}/afile/src.parquet", "afile is a file, not a directory"),
    ("message", "source --path {w}/raw.jsonl --question-field nope --out {out}.parquet", "nope"),
    ("message", "source --path {w}/raw.jsonl --preset no_such_preset --out {out}.parquet", "unknown preset"),
    ("message", "source --path {w}/raw.jsonl --seed -1 --out {out}.parquet", "expected >= 0, got -1"),
    ("message", "source --path {w}/missing.jsonl --out {out}.parquet", "missing.jsonl: file not found"),
    ("overwrite", "source --path {w}/raw.jsonl --question-field problem --out {w}/raw.jsonl", "never overwritten"),
    ("overwrite", "source --path {w}/link.jsonl --question-field problem --out {w}/raw.jsonl", "never overwritten"),
    ("overwrite", "source --path {w}/raw.jsonl --question-field problem --out {w}/tok/../raw.jsonl",
     "never overwritten"),
    ("invariant", "source --path {w}/raw.jsonl --question-field problem --out {out}.txt", "suffixes .parquet"),
    ("message", "source --path {w}/raw.jsonl --question-field problem --cot-type maths --out {out}.parquet",
     "expected one of ['math', 'science', 'coding', 'crossword', 'english', 'health science'], got 'maths'"),
    ("message", "source --path {w}/raw.jsonl --question-field problem --name a/b --out {out}.parquet",
     "argument --name: expected text matching"),
    ("message", "source --path {w} --question-field problem --out {out}.parquet", "is a directory"),
    # --- decontaminate
    ("message", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet --ngram 0 --out {out}.parquet",
     "argument --ngram: expected >= 1, got 0 (the range of config key 'decontamination.ngram')"),
    ("message", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet --ngram -3 --out {out}.parquet",
     "expected >= 1, got -3"),
    ("message", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet --ngram x --out {out}.parquet",
     "expected an integer, got 'x'"),
    ("message", "decontaminate --pool {w}/array_line.jsonl --against {w}/eval.parquet --out {out}.parquet",
     "array_line.jsonl:2"),
    ("message", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet:nope --out {out}.parquet", "nope"),
    ("message", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet --out {w}/afile/c.parquet",
     "is a file, not a directory"),
    ("overwrite", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet --out {w}/src.parquet",
     "never overwritten"),
    ("overwrite", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet --out {w}/eval.parquet",
     "never overwritten"),
    ("overwrite", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet --out {out}.parquet "
                  "--report {w}/src.parquet", "never overwritten"),
    ("invariant", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet --out {w}", "existing directory"),
    ("message", "decontaminate --pool {w}/blank.jsonl --against {w}/eval.parquet --out {out}.parquet",
     "blank.jsonl: column 'question' is blank in row 1"),
    ("message", "decontaminate --pool {w}/src.parquet --against {w}/eval.parquet "
                "--ngram 1000000000000000000000000000000 --out {out}.parquet", "expected an integer below 2**63"),
    # --- features
    ("message", "features --pool {w}/src.parquet --vocab {w}/badvocab/vocab.json --merges {w}/badvocab/merges.txt "
                "--out {out}.parquet", "vocab.json: expected a JSON object mapping each token"),
    ("message", "features --pool {w}/src.parquet --tokenizer {w}/truncated --out {out}.parquet",
     "tokenizer.json: not a readable tokenizer file"),
    ("message", "features --pool {w}/numbers.json --tokenizer {w}/tok --out {out}.parquet", "numbers.json"),
    ("overwrite", "features --pool {w}/src.parquet --tokenizer {w}/tok --out {w}/src.parquet", "never overwritten"),
    ("invariant", "features --pool {w}/pool_dup.parquet --tokenizer {w}/tok --out {out}.parquet",
     "column 'qhash' must be unique"),
    ("invariant", "features --pool {w}/src.parquet --tokenizer {w}/tok --out {out}.csv", "writes parquet"),
    ("message", "features --pool {w}/src.parquet --vocab {w}/badmerges/vocab.json --merges {w}/badmerges/merges.txt "
                "--out {out}.parquet", "not a consistent byte-level BPE"),
    ("message", "features --pool {w}/src.parquet --tokenizer {w}/tok --labels {w}/labels_other.parquet "
                "--out {out}.parquet", "labels_other.parquet: none of its 1 qhash values is a question of the pool"),
    ("message", "features --pool {w}/src.parquet --tokenizer {w}/tok --vocab {w}/badvocab/vocab.json "
                "--merges {w}/badvocab/merges.txt --out {out}.parquet", "not both"),
    ("message", "features --pool {w}/src.parquet --out {out}.parquet", "give --tokenizer"),
    # --- select
    ("invariant", "select --features {w}/features.parquet --subset random --size 0 --out {out}.parquet",
     "argument --size: expected >= 1, got 0"),
    ("invariant", "select --features {w}/features.parquet --subset random --size -5 --out {out}.parquet",
     "expected >= 1, got -5"),
    ("invariant", "select --features {w}/features.parquet --subset s1k --size -1 --out {out}.parquet",
     "expected >= 1, got -1"),
    ("invariant", "select --features {w}/features_dup.parquet --subset s1k --size 5 --out {out}.parquet",
     "features_dup.parquet: column 'qhash' must be unique"),
    ("invariant", "select --features {w}/features.parquet --subset s1k --size 5 --out {out}.txt",
     "suffixes .parquet, .jsonl, .json, .csv"),
    ("message", "select --features {w}/features.parquet --subset s1k --uniform-fraction 1.5 --out {out}.parquet",
     "expected <= 1, got 1.5"),
    ("message", "select --features {w}/features.parquet --subset s1k --aime ( --out {out}.parquet",
     "selection.benchmark.aime (--aime): '(' is not a valid regular expression"),
    ("message", "select --features {w}/features_str.parquet --subset s1k --out {out}.parquet", "trace_tokens"),
    ("message", "select --features {w}/features.parquet --subset best --out {out}.parquet", "invalid choice"),
    ("message", "select --features {w}/features.parquet --subset s1k --uniform-fraction nan --out {out}.parquet",
     "expected a finite number, got nan"),
    ("invariant", "select --features {w}/features_neg.parquet --subset longest --out {out}.parquet",
     "'trace_tokens' must hold whole token counts >= 0 (or be empty); row 2 holds -5.0"),
    ("invariant", "select --features {w}/features_frac.parquet --subset s1k --out {out}.parquet",
     "row 2 holds 12.5"),
    ("message", "select --features {w} --subset s1k --out {out}.parquet", "is a directory"),
    ("overwrite", "select --features {w}/features.parquet --subset s1k --size 5 --out {w}/features.parquet",
     "never overwritten"),
    # --- synthesize
    ("message", "synthesize --out-dir {out} --pool-size 0", "expected >= 1, got 0"),
    ("message", "synthesize --out-dir {out} --duplicate-rate 0.9", "expected <= 0.5, got 0.9"),
    ("message", "synthesize --out-dir {w}/afile", "the output directory is an existing file"),
    ("message", "synthesize --out-dir {out} --pool-size 1000000000000000000000000000000",
     "expected an integer below 2**63"),
    ("message", "synthesize --out-dir {out} --eval-size 1000000", "expected <= 100000, got 1000000"),
    ("message", "synthesize --out-dir {out} --junk-rate nan", "expected a finite number, got nan"),
    # --- sweep (every argument is checked before a model loads: the model here does not exist)
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --batch-size 0 --out {out}.parquet",
     "argument --batch-size: expected an integer >= 1, got 0"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --dtype float8 --out {out}.parquet",
     "invalid choice: 'float8'"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --answer-max-tokens -1 --out {out}.parquet",
     "expected >= 1, got -1 (the range of config key 'generation.answer_max_tokens')"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --caps 0,auto --out {out}.parquet",
     "expected >= 1, got 0 (the range of config key 'evaluation.caps')"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --waits 1,,2 --out {out}.parquet",
     "expected a comma-separated list"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --samples 0 --out {out}.parquet",
     "expected >= 1, got 0 (the range of config key 'evaluation.samples')"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --temperature -0.5 --out {out}.parquet",
     "expected >= 0, got -0.5"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --limit 0 --out {out}.parquet",
     "expected an integer >= 1, got 0"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --out {out}.parquet", "no-model"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --caps 8,8 --out {out}.parquet",
     "argument --caps: expected distinct items, got [8, 8]"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --temperature nan --out {out}.parquet",
     "expected a finite number, got nan"),
    ("message", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --tokenizer {w}/tok --out {out}.parquet",
     "--tokenizer applies to --engine openai only"),
    ("overwrite", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --out {w}/eval.parquet",
     "never overwritten"),
    ("invariant", "sweep --model {w}/no-model --benchmark {w}/eval.parquet --out {out}.csv", "writes parquet"),
    # --- plan-train
    ("message", "plan-train --config {w}/config.yaml --sft {w}/sft.parquet",
     "column 'tokens' must hold positive whole token counts; row 1 holds 'many'"),
    ("message", "plan-train --config {w}/config.yaml --json {w}/afile/plan.json", "is a file, not a directory"),
    ("message", "plan-train --config {w}/config.yaml --nodes 0", "expected >= 1, got 0"),
    ("message", "plan-train --config {w}/config.yaml --block-size 8", "expected >= 16, got 8"),
    ("message", "plan-train --config {w}/missing.yaml", "missing.yaml: config file not found"),
    ("message", "plan-train --config {w}/config.yaml --gpu-memory-gib inf", "expected a finite number, got inf"),
    ("message", "plan-train --config {w}/tab.yaml", "tab.yaml:2:1: not valid YAML: found character"),
    ("message", "plan-train --config {w}/dupkey.yaml", "the key 'epochs' appears twice in one mapping"),
    ("message", "plan-train --config {w}/unclosed.yaml", "unclosed.yaml:2:1: not valid YAML"),
    ("overwrite", "plan-train --config {w}/config.yaml --json {w}/config.yaml", "never overwritten"),
    ("invariant", "plan-train --config {w}/config.yaml --json {out}.yaml", "suffixes .json"),
]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind, line, expected", CASES, ids=[f"{c[0]}:{c[1].split()[0]}-{i}"
                                                            for i, c in enumerate(CASES)])
def test_bad_input_is_one_clear_message_and_exit_2(world, tmp_path, capsys, kind, line, expected):
    out = tmp_path / "out"
    argv = line.format(w=world, out=out).split()
    before = _digest(world)
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert expected in captured.err, captured.err
    assert "Traceback" not in captured.err
    message = [ln for ln in captured.err.splitlines() if not ln.startswith(("usage:", " "))]
    assert len(message) == 1 and message[0].startswith(f"s1flow {argv[0]}: error: "), captured.err
    assert captured.out == ""  # nothing is planned or printed before the check (plan-train's --json included)
    assert not any(tmp_path.iterdir()), "an output was written"
    assert _digest(world) == before, "an input changed"


def test_an_unknown_hub_tokenizer_offline_is_one_message(world, tmp_path):
    """Offline (HF_HUB_OFFLINE=1, set before the hub library loads), an unknown hub id is one clear error."""
    r = subprocess.run([sys.executable, "-m", "s1flow.cli", "features", "--pool", str(world / "src.parquet"),
                        "--tokenizer", "no-such-org/no-such-tokenizer", "--out", str(tmp_path / "f.parquet")],
                       capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not a Hugging Face model id that can be loaded" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "f.parquet").exists()


def test_cases_cover_every_command_and_class():
    by_command: dict[str, set[str]] = {}
    for kind, line, _ in CASES:
        by_command.setdefault(line.split()[0], set()).add(kind)
    assert set(by_command) == {"source", "decontaminate", "features", "select", "synthesize", "sweep", "plan-train"}
    assert all("message" in kinds for kinds in by_command.values())
    assert {c for c, kinds in by_command.items() if "overwrite" in kinds} >= {
        "source", "decontaminate", "features", "select", "sweep"}


def test_an_unexpected_error_is_still_one_message_with_the_traceback_in_a_file(world, tmp_path, capsys,
                                                                                monkeypatch):
    def boom(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("s1flow.cli.run_select", boom)
    code = main(["select", "--features", str(world / "features.parquet"), "--subset", "s1k",
                 "--out", str(tmp_path / "s.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "unexpected ZeroDivisionError: division by zero" in err
    trace = Path(err.rsplit("traceback in ", 1)[1].split(")")[0])
    assert "Traceback" in trace.read_text() and "boom" in trace.read_text()
    trace.unlink()


def test_the_log_option_gets_the_traceback(world, tmp_path, capsys):
    log = tmp_path / "run.log"
    code = main(["--log", str(log), "select", "--features", str(world / "features_dup.parquet"), "--subset", "s1k",
                 "--out", str(tmp_path / "s.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "Traceback" in log.read_text() and "must be unique" in log.read_text()


def test_a_corrupt_model_file_is_one_message(world, tiny_model_dir, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    code = main(["sweep", "--model", str(model), "--benchmark", str(world / "eval.parquet"), "--caps", "8",
                 "--out", str(tmp_path / "s.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"{model}: cannot load model" in err and not (tmp_path / "s.parquet").exists()


def test_select_works_without_trace_lengths(world, tmp_path):
    """A feature table made without traces (every trace_tokens empty) still selects: no question is 'long'."""
    features = pd.read_parquet(world / "features.parquet")
    features["trace_tokens"] = pd.array([None] * len(features), dtype="Int64")
    features.to_parquet(tmp_path / "f.parquet")
    for subset in ("s1k", "longest", "random"):
        assert main(["select", "--features", str(tmp_path / "f.parquet"), "--subset", subset, "--size", "5",
                     "--out", str(tmp_path / f"{subset}.parquet")]) == 0
        assert len(pd.read_parquet(tmp_path / f"{subset}.parquet")) == 5


def test_blank_questions_of_a_source_are_dropped_and_said(world, tmp_path, capsys):
    assert main(["source", "--path", str(world / "blank.jsonl"), "--out", str(tmp_path / "s.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "s.parquet")["question"].tolist() == [
        "a real question with enough words to count here"]
    assert "1 blank question(s) dropped" in capsys.readouterr().err


def test_a_csv_label_table_is_read_like_parquet(world, tmp_path):
    """CSV holds booleans as the text True / False: a label table written as CSV labels like its parquet twin."""
    features = pd.read_parquet(world / "features.parquet")
    labels = pd.DataFrame({"qhash": features["qhash"][:3], "teacher_correct": [True, False, None]})
    for suffix in ("csv", "parquet"):
        write_table(labels, tmp_path / f"labels.{suffix}")
        assert main(["features", "--pool", str(world / "src.parquet"), "--tokenizer", str(world / "tok"),
                     "--labels", str(tmp_path / f"labels.{suffix}"),
                     "--out", str(tmp_path / f"f_{suffix}.parquet")]) == 0
    via_csv, via_parquet = (pd.read_parquet(tmp_path / f"f_{s}.parquet") for s in ("csv", "parquet"))
    pd.testing.assert_frame_equal(via_csv, via_parquet)
    assert via_csv["teacher_correct"][:2].tolist() == [True, False]


def test_subset_suffix_sets_its_format(world, tmp_path, capsys):
    """select, source and decontaminate write the format their --out names; features and sweep only parquet."""
    assert main(["select", "--features", str(world / "features.parquet"), "--subset", "random", "--size", "5",
                 "--out", str(tmp_path / "s.csv")]) == 0
    subset = pd.read_csv(tmp_path / "s.csv")
    assert len(subset) == 5 and subset["qhash"].is_unique
    assert main(["source", "--path", str(world / "raw.jsonl"), "--question-field", "problem",
                 "--out", str(tmp_path / "src.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "src.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and rows[0]["question"].startswith("question 0:")


def test_a_size_above_what_survives_is_stated_on_stderr_and_in_the_funnel(world, tmp_path, capsys):
    from s1flow.config.settings import selection_settings
    from s1flow.stages.select import run_funnel, run_select

    assert main(["select", "--features", str(world / "features.parquet"), "--subset", "random", "--size", "500",
                 "--out", str(tmp_path / "r.parquet")]) == 0
    captured = capsys.readouterr()
    assert "500 questions requested" in captured.err and "only 40 survive" in captured.err
    settings = selection_settings({"size": 500}, 0)
    run_select(world / "features.parquet", "random", settings, tmp_path / "r2.parquet", tmp_path / "r2.json")
    funnel = run_funnel(world / "features.parquet", {"random": tmp_path / "r2.parquet"},
                        {"random": tmp_path / "r2.json"}, settings, tmp_path / "funnel.json")
    random = funnel["subsets"]["random"]
    assert (random["count"], random["requested"], random["short_by"]) == (40, 500, 460)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_honour_the_umask(tmp_path, umask, mode):
    from s1flow.io import honour_umask, write_json, write_parquet, write_text

    old = os.umask(umask)
    try:
        df = pd.DataFrame({"a": [1]})
        write_parquet(df, tmp_path / "t.parquet")
        write_table(df, tmp_path / "t.csv")
        write_json({"a": 1}, tmp_path / "t.json")
        write_text("x\n", tmp_path / "t.md")
        (tmp_path / "weights").write_bytes(b"x")  # as safetensors leaves a model's weights: private
        (tmp_path / "weights").chmod(0o600)
        honour_umask(tmp_path)
    finally:
        os.umask(old)
    for name in ("t.parquet", "t.csv", "t.json", "t.md", "weights"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_a_failed_write_leaves_nothing(tmp_path):
    from s1flow.io import atomic_path

    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
