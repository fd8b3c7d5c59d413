"""Benchmark: transformers-engine decoding throughput of the nano models against batch size.

A tiny Qwen2 model (the default config's base shape: 2 layers, hidden 128, head_dim 64) generates
a budget-forced thinking of up to `--cap` tokens plus a short answer for `--questions` synthetic
questions, with the engine's ``batch_size`` set to each value in turn, in one process on the
sweep rule's one thread (``torch.set_num_threads``). A tiny model's decoding step costs about the
same for one sequence as for dozens, so throughput grows with the batch until the matrix work
catches up with the fixed per-step cost. Prints generated tokens per second per batch size and
checks that every batch size gives the same samples (greedy decoding is batch-invariant here).

Each batch size runs side by side with the engine's preallocated key/value cache
(``s1flow.engines.kv_cache``) and with transformers' stock ``DynamicCache``, which copies the
whole cache at every step, alternating `--repeats` times; the faster time of each counts (the
machine is noisy), and both must give the same samples.

With `--model DIR` it measures a trained model instead (e.g. a finished run's
``results/models/sft/s1k``) and with `--evalset FILE` on that eval set's first `--questions`
questions (e.g. ``results/evalsets/synth_steps.parquet``).

    python benchmarks/batch_size.py [--questions 256] [--cap 256] [--answer-tokens 16]
        [--batch-sizes 8 16 32 64 128 256] [--threads 1] [--repeats 2] [--model DIR] [--evalset FILE]
        [--out benchmarks/results/batch_size.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import torch

import s1flow.engines.hf as hf
from s1flow.curate.tokenizer import train_bpe_tokenizer
from s1flow.engines.hf import TransformersEngine
from s1flow.generate.budget import BudgetForcer, Item, Sampling
from s1flow.generate.runners import run_sweep
from s1flow.generate.setting import Forced
from s1flow.io import read_table
from s1flow.nano import generate_pool
from s1flow.nano.tiny_model import TinyModelSpec, emphasise_tokens, init_tiny_model


def build_model(root: Path, seed: int) -> Path:
    pool = generate_pool(400, seed=seed)
    texts = [t for col in ("question", "trace", "attempt") for t in pool[col].dropna().tolist()]
    train_bpe_tokenizer(texts, root / "tokenizer", vocab_size=2048)
    model = init_tiny_model(root / "tokenizer", root / "model", spec=TinyModelSpec(), seed=seed)
    emphasise_tokens(model, ["<|im_start|>"], scale=3.0)
    return model


def measure(model: Path, questions: list[str], cap: int, batch_size: int, *, answer_tokens: int = 16,
            stock_cache: bool = False) -> tuple[dict, list]:
    """Budget-force `questions` to `cap` at `batch_size`; with `stock_cache`, on transformers' own cache."""
    engine = TransformersEngine(model, batch_size=batch_size)
    forcer = BudgetForcer(engine, engine.tokenizer, answer_max_tokens=answer_tokens)
    items = [Item(f"q{i:04d}", forcer.prompt_ids(q)) for i, q in enumerate(questions)]
    stock = mock.patch.object(hf, "preallocated_cache", lambda config, capacity: None)
    with stock if stock_cache else nullcontext():
        t0 = time.perf_counter()
        rows = run_sweep(forcer, items, [Forced(cap=cap)], Sampling())
        seconds = time.perf_counter() - t0
    tokens = sum(len(r.thinking_ids) + len(r.answer_ids) for r in rows)
    return {"seconds": round(seconds, 2), "generated_tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1)}, [(r.thinking_ids, r.answer_ids) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=256)
    ap.add_argument("--cap", type=int, default=256)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--answer-tokens", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default=None, help="a model directory (default: an untrained tiny model)")
    ap.add_argument("--evalset", default=None, help="a table with a 'question' column (default: synthetic)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/batch_size.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="s1flow-batch-"))
    try:
        model = Path(args.model) if args.model else build_model(root, args.seed)
        if args.evalset:
            questions = read_table(args.evalset)["question"].astype(str).tolist()[: args.questions]
        else:
            questions = generate_pool(args.questions, seed=args.seed + 1, duplicate_rate=0, near_duplicate_rate=0,
                                      junk_rate=0, eval_overlap=0)["question"].tolist()
        runs, reference = [], None
        for batch_size in args.batch_sizes:
            best: dict[bool, dict] = {}
            same = True
            for _ in range(max(1, args.repeats)):
                for stock_cache in (True, False):
                    result, samples = measure(model, questions, args.cap, batch_size,
                                               answer_tokens=args.answer_tokens, stock_cache=stock_cache)
                    reference = reference or samples
                    same = same and samples == reference
                    if stock_cache not in best or result["seconds"] < best[stock_cache]["seconds"]:
                        best[stock_cache] = result
            stock, ours = best[True], best[False]
            result = {"batch_size": batch_size, "generated_tokens": ours["generated_tokens"],
                      "stock_seconds": stock["seconds"], "stock_tokens_per_s": stock["tokens_per_s"],
                      "seconds": ours["seconds"], "tokens_per_s": ours["tokens_per_s"],
                      "cache_speedup": round(ours["tokens_per_s"] / stock["tokens_per_s"], 2),
                      "identical_samples": same}
            runs.append(result)
            print(json.dumps(result), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = runs[0]["stock_tokens_per_s"]
    for r in runs:
        r["speedup"] = round(r["tokens_per_s"] / base, 2)
    report = {"machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s)",
              "date": time.strftime("%Y-%m-%d"), "model": args.model or "untrained tiny model",
              "evalset": args.evalset or "synthetic questions", "questions": len(questions), "cap": args.cap,
              "answer_tokens": args.answer_tokens, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
