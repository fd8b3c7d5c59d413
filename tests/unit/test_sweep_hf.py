"""Shared-prefix sweeps on the real transformers backend, and the ``s1flow sweep`` command."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from s1flow.cli import main
from s1flow.engines.base import GenerationRequest
from s1flow.engines.hf import TransformersEngine
from s1flow.generate.budget import BudgetForcer, Item, Sampling
from s1flow.generate.evalsets import load_benchmark
from s1flow.generate.runners import run_settings_separately, run_sweep
from s1flow.generate.setting import Forced


@pytest.fixture(scope="module")
def talky_model(talky_model_dir):
    return talky_model_dir


@pytest.fixture(scope="module")
def engine(talky_model):
    return TransformersEngine(talky_model, batch_size=8)


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(temperature=1.0, samples=2, seed=11)],
                         ids=["greedy", "seeded-sampling"])
def test_shared_prefix_sweep_is_token_identical(engine, sampling):
    forcer = BudgetForcer(engine, engine.tokenizer, answer_max_tokens=6, max_gen_toks=250)
    items = [Item(f"q{i}", forcer.prompt_ids(f"What is {i} times {i + 3}? Then add {2 * i}.")) for i in range(6)]
    settings = [Forced(cap=c, num_wait=w) for c in (12, 48, "auto") for w in (0, 1, 2)]
    shared = run_sweep(forcer, items, settings, sampling)
    separate = run_settings_separately(forcer, items, settings, sampling)
    assert len(shared) == len(separate) == 6 * 9 * sampling.samples
    for a, b in zip(shared, separate, strict=True):
        assert (a.qid, a.setting, a.sample) == (b.qid, b.setting, b.sample)
        assert a.thinking_ids == b.thinking_ids, (a.qid, a.setting, a.sample)
        assert a.answer_ids == b.answer_ids, (a.qid, a.setting, a.sample)
        assert (a.finish, a.thinking_tokens) == (b.finish, b.thinking_tokens)
        assert a.thinking_tokens <= a.budget
    # the sweep exercised natural ends and Waits, not only caps
    assert any(r.finish == "stop" for r in shared)
    assert any(r.finish == "stop" and r.num_wait > 0 and "Wait" in r.thinking for r in shared)
    assert all(r.answer.startswith("\nFinal Answer:") or r.answer.startswith("Final Answer:")
               for r in shared if r.finish == "cap")


def test_sweep_command_writes_samples(talky_model, tmp_path):
    bench = tmp_path / "bench.jsonl"
    rows = [{"id": f"p{i}", "problem": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(5)]
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "samples.parquet"
    rc = main(["sweep", "--model", str(talky_model), "--benchmark", str(bench), "--caps", "8,16",
               "--waits", "0,1", "--answer-max-tokens", "4", "--prompt-style", "plain", "--out", str(out),
               "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0
    df = pd.read_parquet(out)
    assert list(df.columns) == ["qid", "setting", "method", "cap", "budget", "num_wait", "min_thinking", "condition",
                                "stated_budget", "length_class", "forced", "samples_per_question", "sample",
                                "thinking", "answer", "thinking_tokens", "answer_tokens", "finish", "extracted",
                                "correct"]
    assert len(df) == 5 * 4
    assert set(df["setting"]) == {"cap=8", "cap=8,wait=1", "cap=16", "cap=16,wait=1"}
    assert set(zip(df["budget"], df["num_wait"], strict=True)) == {(8, 0), (8, 1), (16, 0), (16, 1)}
    # the setting's typed columns: budget forcing at caps 8 and 16, one greedy sample, nothing stated
    assert set(zip(df["cap"], df["num_wait"], strict=True)) == {(8, 0), (8, 1), (16, 0), (16, 1)}
    assert set(df["method"]) == {"budget_forcing"} and df["forced"].all() and (df["min_thinking"] == 0).all()
    assert (df["samples_per_question"] == 1).all() and df["stated_budget"].isna().all()
    assert set(df["condition"]) == {""} and set(df["length_class"]) == {""}
    assert (df["thinking_tokens"] <= df["budget"]).all()
    # the answer phase's generated tokens: at most --answer-max-tokens (the forced "Final Answer:" is not generated)
    assert df["answer_tokens"].between(0, 4).all() and (df["answer_tokens"] > 0).any()
    assert set(df["finish"]) <= {"stop", "cap"}
    # a second run reuses the cached chunks and writes the same table
    out2 = tmp_path / "again.parquet"
    assert main(["sweep", "--model", str(talky_model), "--benchmark", str(bench), "--caps", "8,16",
                 "--waits", "0,1", "--answer-max-tokens", "4", "--prompt-style", "plain", "--out", str(out2),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    pd.testing.assert_frame_equal(df, pd.read_parquet(out2))


def test_retrained_model_at_the_same_path_invalidates_the_sweep_cache(talky_model, tmp_path):
    """A model rewritten in place (a retrained subset) must not be answered from the old model's cache."""
    import shutil

    from safetensors.torch import load_file, save_file

    from s1flow.models import model_identity

    model = tmp_path / "model"
    shutil.copytree(talky_model, model)
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"id": f"p{i}", "problem": f"What is {i} plus 3?", "answer": str(i + 3)}) + "\n"
                             for i in range(4)))
    args = ["sweep", "--model", str(model), "--benchmark", str(bench), "--caps", "16", "--answer-max-tokens", "4",
            "--prompt-style", "plain", "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--out", str(tmp_path / "first.parquet")]) == 0
    before = model_identity(model)
    weights = model / "model.safetensors"
    tensors = load_file(weights)
    name = next(k for k in tensors if "embed_tokens" in k)
    tensors[name] = tensors[name].flip(0).contiguous()  # another model, same shapes
    save_file(tensors, weights, metadata={"format": "pt"})
    assert model_identity(model) != before
    assert main([*args, "--out", str(tmp_path / "second.parquet")]) == 0
    fresh = tmp_path / "fresh.parquet"
    assert main([*args[:-1], str(tmp_path / "fresh-cache"), "--out", str(fresh)]) == 0
    second = pd.read_parquet(tmp_path / "second.parquet")
    pd.testing.assert_frame_equal(second, pd.read_parquet(fresh))
    assert not second["thinking"].equals(pd.read_parquet(tmp_path / "first.parquet")["thinking"])
    assert model_identity("Qwen/Qwen2.5-32B-Instruct") == "Qwen/Qwen2.5-32B-Instruct"


@pytest.mark.parametrize("args, message", [
    (["--model", "/nonexistent/model"], "/nonexistent/model"),
    (["--benchmark", "/nonexistent/bench.jsonl"], "bench.jsonl"),
    (["--caps", "12,big"], "argument --caps: expected an integer or 'auto', got 'big'"),
    (["--caps", "12,0"], "argument --caps: expected >= 1, got 0 (the range of config key 'evaluation.caps')"),
    (["--majority", "2", "--majority-cap", "0"], "--majority-cap: expected >= 1, got 0"),
    (["--majority", "2", "--majority-cap", "8,16"], "--majority-cap: expected an integer or 'auto', got '8,16'"),
    (["--rejection-caps", "x"], "--rejection-caps: expected an integer or 'auto', got 'x'"),
])
def test_sweep_command_errors_are_clear(talky_model, tmp_path, capsys, args, message):
    bench = tmp_path / "b.jsonl"
    bench.write_text('{"problem": "1+1?", "answer": "2"}\n')
    base = {"--model": str(talky_model), "--benchmark": str(bench), "--caps": "8"}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    argv = ["sweep", *[x for kv in base.items() for x in kv], "--out", str(tmp_path / "o.parquet")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_bad_benchmark_table_is_rejected(talky_model, tmp_path, capsys):
    bench = tmp_path / "b.csv"
    bench.write_text("prompt,solution\n1+1?,2\n")
    assert main(["sweep", "--model", str(talky_model), "--benchmark", str(bench), "--caps", "8",
                 "--out", str(tmp_path / "o.parquet")]) == 2
    err = capsys.readouterr().err
    assert "b.csv" in err and "question" in err


def test_sweep_command_runs_the_baselines(talky_model, tmp_path):
    from s1flow.generate.grading import summarise

    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"problem": f"What is {i} plus 1?", "answer": str(i + 1)}) + "\n"
                             for i in range(4)))
    out = tmp_path / "s.parquet"
    assert main(["sweep", "--model", str(talky_model), "--benchmark", str(bench), "--caps", "16",
                 "--rejection-caps", "48", "--rejection-max-tries", "3", "--majority", "3", "--answer-max-tokens",
                 "4", "--prompt-style", "plain", "--seed", "5", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert df.groupby("setting").size().to_dict() == {"cap=16": 4, "rs:cap=48": 4, "maj@3": 12}
    maj = df[df["setting"] == "maj@3"]
    assert sorted(maj["sample"].unique()) == [0, 1, 2]
    assert maj.groupby("qid")["thinking"].nunique().gt(1).any(), "majority samples are drawn at temperature 1"
    assert (df.loc[df["setting"] == "rs:cap=48", "thinking_tokens"] <= 48).all()
    summary = summarise(df).set_index("setting")
    assert summary.loc["maj@3", "n_questions"] == 4 and summary.loc["maj@3", "n_samples"] == 12


def test_sweep_command_open_responses(talky_model, tmp_path, engine):
    """--open: the model's own responses from the generation prompt, shared over caps, majority vote open too."""
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"problem": f"What is {i} plus 2?", "answer": str(i + 2)}) + "\n"
                             for i in range(4)))
    out = tmp_path / "s.parquet"
    assert main(["sweep", "--model", str(talky_model), "--benchmark", str(bench), "--caps", "4,24", "--open",
                 "--majority", "2", "--majority-cap", "24", "--answer-max-tokens", "4", "--prompt-style", "plain",
                 "--seed", "2", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert df.groupby("setting").size().to_dict() == {"open:cap=4": 4, "open:cap=24": 4, "maj@2": 8}
    # --majority-cap bounds the open majority-vote responses as the caps bound the others
    assert (df.loc[df["setting"] == "maj@2", "thinking_tokens"] <= 28).all()
    small, big = (df[df["setting"] == f"open:cap={c}"].set_index("qid") for c in (4, 24))
    assert (small["thinking_tokens"] <= 8).all() and (big["thinking_tokens"] <= 28).all()
    # the smaller limit is a prefix of the larger one's response
    assert all(b.startswith(a) for a, b in zip(small["thinking"], big["thinking"], strict=True))
    # the same response as generating from the chat prompt alone, greedily
    forcer = BudgetForcer(engine, engine.tokenizer, answer_max_tokens=4, max_gen_toks=250)
    bench_items = load_benchmark(str(bench), seed=2, prompt_style="plain").items
    prompt = forcer.open_prompt(Item("q", forcer.prompt_ids(bench_items["prompt"].iloc[0])))
    own = engine.generate([GenerationRequest(prompt=prompt, max_tokens=28, stop_token_ids=forcer.answer_stop_ids)])
    first = big.loc[str(bench_items["qid"].iloc[0])]
    assert engine.tokenizer.decode(own[0].tokens, skip_special_tokens=False) == first["thinking"] + first["answer"]


@pytest.mark.realdata
@pytest.mark.parametrize("name, kind", [("aime24_nofigures.jsonl", "math"), ("aime25_nofigures.jsonl", "math"),
                                        ("math500_test.jsonl", "math"), ("gpqa_diamond.csv", "mc")])
def test_sweep_on_the_public_eval_files(talky_model, shared_data, tmp_path, name, kind):
    from s1flow.generate.evalsets import load_benchmark

    out = tmp_path / "s.parquet"
    assert main(["sweep", "--model", str(talky_model), "--benchmark", str(shared_data / "eval" / name),
                 "--caps", "8", "--waits", "0,1", "--answer-max-tokens", "4", "--limit", "3", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    bench = load_benchmark(str(shared_data / "eval" / name), seed=0, limit=3)
    assert bench.kind == kind and list(df["qid"].unique()) == list(bench.items["qid"])
    assert len(df) == 6 and df["correct"].dtype == bool


@pytest.mark.realdata
def test_sweep_cli_extends_only_the_wait_caps(talky_model, shared_data, tmp_path, capsys):
    """s1's sweep shape on AIME25: every cap once, the Waits on the largest cap alone."""
    out, aime25 = tmp_path / "s.parquet", str(shared_data / "eval" / "aime25_nofigures.jsonl")
    assert main(["sweep", "--model", str(talky_model), "--benchmark", aime25,
                 "--caps", "4,8", "--waits", "0,1,2", "--wait-caps", "8", "--answer-max-tokens", "4", "--limit", "2",
                 "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert sorted(df["setting"].unique()) == ["cap=4", "cap=8", "cap=8,wait=1", "cap=8,wait=2"]
    assert len(df) == 8
    assert main(["sweep", "--model", str(talky_model), "--benchmark", aime25,
                 "--caps", "4,8", "--waits", "0,1", "--wait-caps", "16", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "wait caps [16] are not among the caps [4, 8]" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()
