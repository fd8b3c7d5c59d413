"""Benchmark: SFT tokens/second under DeepSpeed ZeRO-3 (2 processes) vs a plain single-process PyTorch loop.

Same tiny Qwen2 model (random init, on a BPE tokenizer trained on the synthetic pool), same
SFT data (s1's chat format, answer-only loss, :mod:`s1flow.train.sft`), same block size,
global and micro batch, AdamW (s1's betas and weight decay), cosine schedule, gradient
clipping and precision (fp32 on CPU, bf16 on a bf16 GPU), same number of optimizer steps:

(a) ZeRO-3: ``python -m torch.distributed.run --standalone --nproc_per_node 2 -m s1flow.train.entry``
    as the workflow launches it (:func:`s1flow.train.launch.launch_command`); the Hugging Face
    Trainer with DeepSpeed (on CPU: DeepSpeed's CPU accelerator with gloo, one OpenMP thread
    per process on 2 cores);
(b) plain: one process, a minimal loop (no DeepSpeed, no Trainer), all cores.

Tokens are the non-padding input tokens a run processed (prompt and answer; the loss covers
the answer only). Two figures per run: *steady* (from the end of the first optimizer step to
the last: no warm-up, no final checkpoint; for ZeRO-3 read from the Trainer's per-step log)
and *whole loop* (every step, and for ZeRO-3 the Trainer's final checkpoint save, as the
Trainer's own ``train_runtime``). Model loading, tokenization and DeepSpeed engine setup are
outside both. Target: plain / ZeRO-3 <= 1.5 on the steady figure.

Measured at micro batch 8 (one micro batch per process per optimizer step: 2 x 8 = the global
batch of 16) and at s1's micro batch 1 (8 accumulation steps per process): ZeRO-3 has a
fixed cost per micro batch (its hooks gather and release every module's parameters and
reduce every gradient at each micro step, even in one process), which a tiny model cannot
hide behind computation.

    python benchmarks/train.py [--micro-batch 8 1] [--steps 16] [--repeats 2] [--hidden 128 --layers 2]
                               [--out benchmarks/results/train.json]
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from s1flow.curate.pool import question_hash
from s1flow.curate.tokenizer import train_bpe_tokenizer
from s1flow.models import load_hf_tokenizer
from s1flow.nano import generate_pool
from s1flow.nano.tiny_model import TinyModelSpec, init_tiny_model
from s1flow.train.launch import launch_command, launch_env, run_command
from s1flow.train.settings import TrainSettings, gradient_accumulation_steps


def build_model(root: Path, spec: TinyModelSpec, seed: int) -> Path:
    pool = generate_pool(400, seed=seed)
    texts = [t for col in ("question", "trace", "attempt") for t in pool[col].dropna().tolist()]
    train_bpe_tokenizer(texts, root / "tokenizer", vocab_size=400)
    return init_tiny_model(root / "tokenizer", root / "model", spec=spec, seed=seed)


def build_sft_file(root: Path, model: Path, n_examples: int, block_size: int, seed: int) -> tuple[Path, dict]:
    from s1flow.train.sft import build_sft_table

    pool = generate_pool(4 * n_examples, seed=seed + 1)
    rows = pool.dropna(subset=["question", "trace", "attempt"]).head(n_examples).reset_index(drop=True)
    rows["qhash"] = [question_hash(q) for q in rows["question"]]
    table, report = build_sft_table(rows, load_hf_tokenizer(model), block_size)
    path = root / "sft.parquet"
    table.to_parquet(path, index=False)
    return path, report


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


# --------------------------------------------------------------------------- (a) ZeRO-3 through the entry

def _trainer_logs(log_file: Path) -> list[dict]:
    """The per-step dicts the Trainer prints (PrinterCallback) on rank 0."""
    out = []
    for line in log_file.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{") and "'num_input_tokens_seen'" in line:
            try:
                out.append(ast.literal_eval(line))
            except (ValueError, SyntaxError):
                continue
    return out


def run_zero3(root: Path, sft: Path, model: Path, settings: TrainSettings, processes: int) -> dict:
    out, ckpt, log = root / "zero3-out", root / "zero3-ckpt", root / "zero3.log"
    args = ["--sft", str(sft), "--base", str(model), "--out", str(out), "--checkpoints", str(ckpt),
            "--settings", settings.to_json()]
    cuda = _cuda()
    env = launch_env(os.environ, cuda_available=cuda, nproc=processes)
    cmd = launch_command(args, gpus_per_node=processes, nnodes=1, env=env)
    t0 = time.perf_counter()
    run_command(cmd, log_file=log, env=env, timeout=1800)
    wall = time.perf_counter() - t0
    metrics = json.loads((out / "train_metrics.json").read_text())
    steps = [e for e in _trainer_logs(log) if "train_runtime" in e and "loss" in e]
    result = {
        "command": " ".join(["python", *cmd[1:6]]) + " -m s1flow.train.entry ...",
        "processes": processes,
        "world_size": metrics["world_size"],
        "gradient_accumulation_steps": metrics["gradient_accumulation_steps"],
        "optimizer_steps": metrics["global_step"],
        "tokens": metrics["tokens_seen_this_run"],
        "whole_loop_s": metrics["runtime_s"],
        "whole_loop_tokens_per_s": round(metrics["tokens_seen_this_run"] / metrics["runtime_s"], 1),
        "launch_wall_s": round(wall, 2),
        "train_loss": round(metrics["train_loss"], 4),
        "threads_per_process": env.get("OMP_NUM_THREADS"),
    }
    if len(steps) >= 2:  # the Trainer prints its figures as strings of 4 significant digits
        first, last = steps[0], steps[-1]
        tok = int(last["num_input_tokens_seen"]) - int(first["num_input_tokens_seen"])
        sec = float(last["train_runtime"]) - float(first["train_runtime"])
        result.update({"steady_steps": len(steps) - 1, "steady_tokens": tok,
                       "steady_s": round(sec, 3), "steady_tokens_per_s": round(tok / sec, 1) if sec > 0 else None})
    else:
        result["steady_tokens_per_s"] = None
        result["note"] = "no per-step Trainer logs found; only the whole-loop figure is available"
    return result


# --------------------------------------------------------------------------- (b) plain PyTorch

def run_plain(sft: Path, model_dir: Path, settings: TrainSettings) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, get_cosine_schedule_with_warmup

    from s1flow.train.sft import IGNORE_INDEX, SFTCollator, resolve_pad_token_id, tokenize_and_mask

    cuda = _cuda()
    device = torch.device("cuda" if cuda else "cpu")
    bf16 = _bf16()
    torch.manual_seed(settings.seed)
    tokenizer = load_hf_tokenizer(model_dir)
    texts = pd.read_parquet(sft)["text"].tolist()
    enc = tokenize_and_mask(texts, tokenizer, settings.block_size)
    examples = [{k: enc[k][i] for k in enc} for i in range(len(texts))]
    collate = SFTCollator(resolve_pad_token_id(tokenizer))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).to(device)
    model.config.use_cache = False
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=settings.learning_rate,
                            betas=(settings.adam_beta1, settings.adam_beta2))
    accumulation = gradient_accumulation_steps(settings.global_batch_size, settings.micro_batch_size, 1)
    steps = settings.max_steps
    sched = get_cosine_schedule_with_warmup(opt, math.ceil(settings.warmup_ratio * steps), steps)
    gen = torch.Generator().manual_seed(settings.seed)
    order: list[int] = []

    def next_batch() -> dict:
        nonlocal order
        if len(order) < settings.micro_batch_size:
            order += torch.randperm(len(examples), generator=gen).tolist()
        idx, order = order[:settings.micro_batch_size], order[settings.micro_batch_size:]
        return collate([examples[i] for i in idx])

    tokens, losses, marks = 0, [], []
    start = time.perf_counter()
    for _step in range(steps):
        step_loss = 0.0
        for _ in range(accumulation):
            batch = {k: v.to(device) for k, v in next_batch().items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            # answer-only loss, averaged over the trained tokens of the micro batch
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                                     batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
            (loss / accumulation).backward()
            step_loss += loss.item() / accumulation
            tokens += int(batch["attention_mask"].sum())
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(step_loss)
        if cuda:
            torch.cuda.synchronize()
        marks.append((time.perf_counter() - start, tokens))
    whole = marks[-1][0]
    result = {
        "processes": 1,
        "threads": torch.get_num_threads(),
        "gradient_accumulation_steps": accumulation,
        "optimizer_steps": steps,
        "tokens": tokens,
        "whole_loop_s": round(whole, 3),
        "whole_loop_tokens_per_s": round(tokens / whole, 1),
        "train_loss": round(sum(losses) / len(losses), 4),
    }
    if len(marks) >= 2:
        sec, tok = marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]
        result.update({"steady_steps": len(marks) - 1, "steady_tokens": tok, "steady_s": round(sec, 3),
                       "steady_tokens_per_s": round(tok / sec, 1)})
    return result


# --------------------------------------------------------------------------- main

def _best(runs: list[dict]) -> dict:
    """The repeat with the highest steady throughput (the least disturbed by other load)."""
    return max(runs, key=lambda r: r.get("steady_tokens_per_s") or r["whole_loop_tokens_per_s"])


def run_config(root: Path, sft: Path, model: Path, settings: TrainSettings, processes: int, repeats: int) -> dict:
    plains, zeros = [], []
    for k in range(repeats):  # alternate, so slow phases of a shared machine hit both
        plains.append(run_plain(sft, model, settings))
        zeros.append(run_zero3(root / f"mb{settings.micro_batch_size}-r{k}", sft, model, settings, processes))
        print(f"  micro batch {settings.micro_batch_size}, repeat {k + 1}: plain {plains[-1]['steady_tokens_per_s']} "
              f"tokens/s, ZeRO-3 {zeros[-1]['steady_tokens_per_s']} tokens/s", flush=True)
    plain, zero3 = _best(plains), _best(zeros)

    def ratio(key: str) -> float | None:
        a, b = plain.get(key), zero3.get(key)
        return round(a / b, 3) if a and b else None

    steady = ratio("steady_tokens_per_s")
    return {
        "micro_batch_size": settings.micro_batch_size,
        "gradient_accumulation_steps": {"plain": plain["gradient_accumulation_steps"],
                                        "zero3": zero3["gradient_accumulation_steps"]},
        "plain_torch": plain, "zero3": zero3,
        "repeats": {"plain_steady_tokens_per_s": [r.get("steady_tokens_per_s") for r in plains],
                    "zero3_steady_tokens_per_s": [r.get("steady_tokens_per_s") for r in zeros]},
        "plain_over_zero3_steady": steady,
        "plain_over_zero3_whole_loop": ratio("whole_loop_tokens_per_s"),
        "meets_target": steady is not None and steady <= TARGET,
    }


TARGET = 1.5


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=64, help="SFT examples (synthetic pool rows)")
    p.add_argument("--steps", type=int, default=16, help="optimizer steps of each run")
    p.add_argument("--processes", type=int, default=2, help="ZeRO-3 processes")
    p.add_argument("--global-batch", type=int, default=16)
    p.add_argument("--micro-batch", type=int, nargs="+", default=[8, 1],
                   help="micro batch sizes to measure (the first is the headline)")
    p.add_argument("--block-size", type=int, default=512)
    p.add_argument("--hidden", type=int, default=128, help="hidden size (head_dim stays 64)")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--repeats", type=int, default=2, help="runs of each side; the best is reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", help="keep the model, data and logs in this directory")
    p.add_argument("--out", default="benchmarks/results/train.json")
    args = p.parse_args(argv)

    spec = TinyModelSpec(hidden_size=args.hidden, num_layers=args.layers, num_heads=args.hidden // 64,
                         num_kv_heads=1, intermediate_size=2 * args.hidden)
    all_settings = [TrainSettings(epochs=1.0, max_steps=args.steps, global_batch_size=args.global_batch,
                                  micro_batch_size=mb, block_size=args.block_size,
                                  gradient_checkpointing=args.gradient_checkpointing, bf16="auto",
                                  save_steps=10**6, logging_steps=1, seed=args.seed) for mb in args.micro_batch]
    for mb in args.micro_batch:  # fail early on an indivisible batch
        gradient_accumulation_steps(args.global_batch, mb, args.processes)
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f} before the benchmark; other work on the machine skews "
              f"throughput (plain torch's {os.cpu_count()} OpenMP threads suffer most)", flush=True)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="s1flow-bench-train-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        model = build_model(root, spec, args.seed)
        sft, data_report = build_sft_file(root, model, args.examples, args.block_size, args.seed)
        print(f"data: {data_report['examples']} examples, mean {data_report['mean_tokens']:.0f} tokens, "
              f"{data_report['over_block_size']} over the block size of {args.block_size}", flush=True)
        runs = [run_config(root, sft, model, s, args.processes, args.repeats) for s in all_settings]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    head = runs[0]
    report = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cores, "
                   f"{'cuda' if _cuda() else 'cpu'}",
        "date": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "model": {"hidden_size": spec.hidden_size, "layers": spec.num_layers, "heads": spec.num_heads,
                  "kv_heads": spec.num_kv_heads, "intermediate_size": spec.intermediate_size},
        "data": data_report,
        "settings": {k: v for k, v in json.loads(all_settings[0].to_json()).items() if k != "micro_batch_size"},
        "processes": args.processes,
        "load_average_before": round(load_before, 2),
        "target": f"plain / ZeRO-3 <= {TARGET} (steady tokens/s)",
        "headline": {"micro_batch_size": head["micro_batch_size"],
                     "plain_steady_tokens_per_s": head["plain_torch"].get("steady_tokens_per_s"),
                     "zero3_steady_tokens_per_s": head["zero3"].get("steady_tokens_per_s"),
                     "plain_over_zero3_steady": head["plain_over_zero3_steady"],
                     "meets_target": head["meets_target"]},
        "runs": runs,
    }
    print(f"\n{'micro':>5} {'accum p/z':>9} {'plain tok/s':>12} {'ZeRO-3 tok/s':>13} {'ratio':>6} "
          f"{'whole-loop ratio':>16} {'loss p/z':>15} target")
    for r in runs:
        pl, z = r["plain_torch"], r["zero3"]
        acc = f"{pl['gradient_accumulation_steps']}/{z['gradient_accumulation_steps']}"
        print(f"{r['micro_batch_size']:>5} {acc:>9} {pl.get('steady_tokens_per_s')!s:>12} "
              f"{z.get('steady_tokens_per_s')!s:>13} {r['plain_over_zero3_steady']!s:>6} "
              f"{r['plain_over_zero3_whole_loop']!s:>16} {pl['train_loss']:>7}/{z['train_loss']:<7} "
              f"{'met' if r['meets_target'] else 'NOT met'}")
    print(f"(steady tokens/s, best of {args.repeats}; ZeRO-3 = {args.processes} processes x "
          f"{head['zero3'].get('threads_per_process')} thread(s), plain = 1 process x "
          f"{head['plain_torch']['threads']} threads)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
