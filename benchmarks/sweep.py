"""Benchmark: a budget-forcing sweep run setting by setting (s1's harness) vs shared-prefix.

Sweep: caps {32, 64, 128, 256} x Waits {0, 1, 2, 3} over 32 questions with a tiny Qwen2
model on the transformers backend (greedy). The model is randomly initialised with its
end-of-thinking token emphasised so that thinking ends on its own now and then (otherwise
every Wait setting would equal its cap setting). Prints, side by side from one run:
generated tokens and wall time of (a) setting by setting, (b) shared-prefix and (c) the
largest setting alone, with the ratios b/a and b/c, and checks that (a) and (b) give
token-identical samples. Target: b/c <= 1.15 in generated tokens.

    python benchmarks/sweep.py [--questions 32] [--answer-max-tokens 4 16] [--out benchmarks/results/sweep.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

from s1flow.curate.tokenizer import train_bpe_tokenizer
from s1flow.engines.hf import TransformersEngine
from s1flow.generate.budget import BudgetForcer, Item, Sampling
from s1flow.generate.runners import run_settings_separately, run_sweep
from s1flow.generate.setting import Forced
from s1flow.nano import generate_pool
from s1flow.nano.tiny_model import TinyModelSpec, emphasise_tokens, init_tiny_model

CAPS = (32, 64, 128, 256)
WAITS = (0, 1, 2, 3)


class CountingEngine:
    """Counts the tokens a backend generates (a stop token counts: the model computed it)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_token_id = inner.max_token_id
        self.tokens = 0
        self.calls = 0

    def generate(self, requests):
        out = self.inner.generate(requests)
        self.calls += 1
        self.tokens += sum(len(g.tokens) + (g.finish == "stop") for g in out)
        return out


def build_model(root: Path, seed: int) -> Path:
    pool = generate_pool(400, seed=seed)
    texts = [t for col in ("question", "trace", "attempt") for t in pool[col].dropna().tolist()]
    train_bpe_tokenizer(texts, root / "tokenizer", vocab_size=400)
    model = init_tiny_model(root / "tokenizer", root / "model", spec=TinyModelSpec(), seed=seed)
    emphasise_tokens(model, ["<|im_start|>"], scale=3.5)
    return model


def measure(engine: CountingEngine, fn) -> tuple[list, int, float]:
    engine.tokens = 0
    t0 = time.perf_counter()
    rows = fn()
    return rows, engine.tokens, time.perf_counter() - t0


def run(n_questions: int, answer_max_tokens: int, model: Path, seed: int) -> dict:
    engine = CountingEngine(TransformersEngine(model, batch_size=32))
    forcer = BudgetForcer(engine, engine.inner.tokenizer, answer_max_tokens=answer_max_tokens)
    questions = generate_pool(n_questions, seed=seed + 1, duplicate_rate=0, near_duplicate_rate=0, junk_rate=0,
                              eval_overlap=0)["question"].tolist()
    items = [Item(f"q{i:03d}", forcer.prompt_ids(q)) for i, q in enumerate(questions)]
    settings = [Forced(cap=c, num_wait=w) for c in CAPS for w in WAITS]
    sampling = Sampling()
    largest = [Forced(cap=max(CAPS), num_wait=max(WAITS))]
    a_rows, a_tok, a_s = measure(engine, lambda: run_settings_separately(forcer, items, settings, sampling))
    b_rows, b_tok, b_s = measure(engine, lambda: run_sweep(forcer, items, settings, sampling))
    c_rows, c_tok, c_s = measure(engine, lambda: run_settings_separately(forcer, items, largest, sampling))
    identical = all(x.thinking_ids == y.thinking_ids and x.answer_ids == y.answer_ids and x.finish == y.finish
                    for x, y in zip(a_rows, b_rows, strict=True))
    natural = sum(r.finish == "stop" for r in b_rows) / len(b_rows)
    return {
        "questions": n_questions, "settings": len(settings), "answer_max_tokens": answer_max_tokens,
        "a_separate": {"tokens": a_tok, "seconds": round(a_s, 2)},
        "b_shared": {"tokens": b_tok, "seconds": round(b_s, 2)},
        "c_largest": {"tokens": c_tok, "seconds": round(c_s, 2)},
        "b_over_a_tokens": round(b_tok / a_tok, 3), "b_over_a_seconds": round(b_s / a_s, 3),
        "b_over_c_tokens": round(b_tok / c_tok, 3), "b_over_c_seconds": round(b_s / c_s, 3),
        "token_identical": identical, "share_natural_end": round(natural, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--questions", type=int, default=32)
    p.add_argument("--answer-max-tokens", type=int, nargs="+", default=[4, 16])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/sweep.json")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="s1flow-bench-"))
    try:
        model = build_model(root, args.seed)
        results = [run(args.questions, a, model, args.seed) for a in args.answer_max_tokens]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
                         f"{__import__('os').cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
              "runs": results}
    print(f"{'answer limit':>12} {'(a) sep tok':>12} {'(b) shared':>11} {'(c) largest':>12} "
          f"{'b/a tok':>8} {'b/a s':>6} {'b/c tok':>8} {'b/c s':>6} identical")
    for r in results:
        print(f"{r['answer_max_tokens']:>12} {r['a_separate']['tokens']:>12} {r['b_shared']['tokens']:>11} "
              f"{r['c_largest']['tokens']:>12} {r['b_over_a_tokens']:>8} {r['b_over_a_seconds']:>6} "
              f"{r['b_over_c_tokens']:>8} {r['b_over_c_seconds']:>6} {r['token_identical']}")
        print(f"{'':>12} seconds: a {r['a_separate']['seconds']}, b {r['b_shared']['seconds']}, "
              f"c {r['c_largest']['seconds']}; thinking ended on its own in {r['share_natural_end']:.0%} of rows")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
