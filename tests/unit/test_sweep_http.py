"""The budget-forcing controller over the OpenAI-compatible completions engine (a real HTTP server)."""

from __future__ import annotations

from transformers import AutoTokenizer

from s1flow.engines.http import OpenAIClient, OpenAICompletionsEngine
from s1flow.generate.budget import BudgetForcer, Item, Sampling
from s1flow.generate.runners import run_settings_separately, run_sweep
from s1flow.generate.setting import Forced


def test_sweep_over_http_equals_setting_by_setting(tiny_model_dir):
    from openai_server import serve

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    with serve(vocab_size=64) as server:
        engine = OpenAICompletionsEngine(OpenAIClient(server.url, "toy", concurrency=4, backoff=0.01),
                                         tokenizer=tok)
        forcer = BudgetForcer(engine, tok, answer_max_tokens=5)
        items = [Item(f"q{i}", forcer.prompt_ids(f"Question {i}?")) for i in range(5)]
        settings = [Forced(cap=c, num_wait=w) for c in (3, 8, 20) for w in (0, 1, 3)]
        for sampling in (Sampling(), Sampling(temperature=1.0, samples=2, seed=4)):
            server.fail("500", times=1)  # a retried failure changes nothing
            shared = run_sweep(forcer, items, settings, sampling)
            separate = run_settings_separately(forcer, items, settings, sampling)
            assert [(r.thinking_ids, r.answer_ids, r.finish) for r in shared] == \
                   [(r.thinking_ids, r.answer_ids, r.finish) for r in separate]
            assert {r.finish for r in shared} == {"stop", "cap"}
            assert all(r.thinking_tokens <= r.budget for r in shared)
        sent = [r for r in server.requests if r.path.endswith("/completions")]
        assert sent and all(r.body["max_tokens"] >= 1 for r in sent)


def test_sweep_command_on_an_openai_server(tiny_model_dir, tmp_path):
    import json

    import pandas as pd
    from openai_server import serve

    from s1flow.cli import main

    bench = tmp_path / "b.jsonl"
    bench.write_text("".join(json.dumps({"problem": f"Q{i}?", "answer": str(i)}) + "\n" for i in range(3)))
    with serve(vocab_size=64) as server:
        out = tmp_path / "s.parquet"
        assert main(["sweep", "--engine", "openai", "--base-url", server.url, "--model", "toy", "--tokenizer",
                     str(tiny_model_dir), "--benchmark", str(bench), "--caps", "4,12", "--waits", "0,2",
                     "--answer-max-tokens", "3", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert len(df) == 3 * 4 and (df["thinking_tokens"] <= df["budget"]).all()
