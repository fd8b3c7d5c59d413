"""File-level entry points of the training stages (workflow scripts call these).

- ``run_sft_data``: a subset -> ``results/sft/<subset>.parquet`` (formatted text, token
  counts) and a report of how many examples exceed the block size.
- ``run_train``: an SFT table + a base model -> a fine-tuned Hugging Face model directory,
  launched on one or several processes / nodes (``s1flow.train.launch``); checkpoints live
  outside the output so a killed job restarted by Snakemake resumes from the last one.
- ``run_build_model``: a tiny model of the embedded default: random init, then (optionally)
  pretraining on direct answers, the toy mirror of an instruct model that answers easy
  questions without thinking.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.errors import ConfigError, InputFileError
from s1flow.io import read_table, require_columns, write_json, write_parquet
from s1flow.models import TinyModelSpec, init_tiny_model, load_hf_tokenizer
from s1flow.train.settings import TrainSettings

log = logging.getLogger(__name__)
PathLike = str | os.PathLike
#: placeholder of the question in a ``pretrain.worked_prompt`` template
QUESTION_SLOT = "{question}"

#: ``training`` keys that are about where and how to launch, not hyperparameters
LAUNCH_KEYS = ("enabled", "base_model", "subsets", "gpus_per_node", "processes_per_node", "nodes", "gpu_memory_gib",
               "deepspeed", "timeout_minutes", "mem_mb", "runtime_minutes", "offload_optimizer", "protect_models")


def split_training_config(cfg: Mapping[str, Any] | None) -> tuple[dict, TrainSettings]:
    """(launch options, hyperparameters) from the ``training`` config section."""
    cfg = dict(cfg or {})
    launch = {k: cfg.pop(k) for k in LAUNCH_KEYS if k in cfg}
    return launch, TrainSettings.from_config(cfg)


def run_sft_data(subset_file: PathLike, tokenizer_dir: PathLike, out: PathLike, report_out: PathLike, *,
                 block_size: int, direct: bool = False, control: str | None = None, chunk_tokens: int = 100,
                 size: int = 0, seed: int = 0) -> dict:
    """Format a subset (or, with `direct`, a pool as question -> answer) for SFT; `control` formats
    it for a token- or step-conditional model. `size` > 0 keeps that many of the subset's
    questions, drawn with `seed` (in the subset's order)."""
    rows = read_table(subset_file)
    require_columns(rows, ["qhash", "question"], str(subset_file))
    if size < 0:
        raise ConfigError(f"{subset_file}: SFT sample size {size} must be >= 0 (0 = every question)")
    if 0 < size < len(rows):
        rows = rows.sample(n=size, random_state=seed).sort_index()
    return write_sft_data(rows, tokenizer_dir, out, report_out, block_size=block_size, direct=direct,
                          source=str(subset_file), control=control, chunk_tokens=chunk_tokens)


def write_sft_data(rows: pd.DataFrame, tokenizer_dir: PathLike, out: PathLike, report_out: PathLike, *,
                   block_size: int, direct: bool, source: str, control: str | None = None,
                   chunk_tokens: int = 100) -> dict:
    """Format rows for SFT and write the table and its block-size report."""
    from s1flow.train.sft import build_sft_table

    table, report = build_sft_table(rows, load_hf_tokenizer(tokenizer_dir), block_size, direct=direct,
                                    control=control, chunk_tokens=chunk_tokens)
    report = {"source": source, "block_size": block_size, **report}
    write_parquet(table, out)
    write_json(report, report_out)
    log.info("%s: %d examples, %d exceed the block size of %d tokens", source, len(table),
             report.get("over_block_size", 0), block_size)
    return report


def _fingerprint(sft_file: PathLike, base_model: PathLike, settings: TrainSettings, world: str) -> str:
    h = hashlib.sha256()
    h.update(Path(sft_file).read_bytes())
    h.update(f"{base_model}\x1f{settings.to_json()}\x1f{world}".encode())
    return h.hexdigest()[:16]


def run_train(sft_file: PathLike, base_model: PathLike, out_dir: PathLike, checkpoint_dir: PathLike, *,
              training: Mapping[str, Any], log_file: PathLike, seed: int | None = None) -> None:
    """Fine-tune `base_model` on an SFT table; resumes from `checkpoint_dir` when it matches this run."""
    from s1flow.train.launch import run_training

    launch, settings = split_training_config(training)
    if seed is not None and "seed" not in (training or {}):
        settings = replace(settings, seed=seed)
    table = read_table(sft_file)
    require_columns(table, ["qhash", "text"], str(sft_file))
    if table.empty:
        raise InputFileError(f"{sft_file}: no training examples")
    gpus = int(launch.get("gpus_per_node", 0))
    procs = gpus or int(launch.get("processes_per_node", 1))
    nodes = int(launch.get("nodes", 1))
    if procs < 1 or nodes < 1:
        raise ConfigError("training.gpus_per_node / processes_per_node and training.nodes must be >= 1")
    ckpt = Path(checkpoint_dir)
    stamp = _fingerprint(sft_file, base_model, settings, f"{nodes}x{procs}")
    stamp_file = ckpt / "s1flow_run.json"
    if ckpt.exists() and (not stamp_file.is_file() or json.loads(stamp_file.read_text()).get("run") != stamp):
        log.info("%s: checkpoints belong to another run (data, model or settings changed); starting afresh", ckpt)
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(json.dumps({"run": stamp}) + "\n")
    args = ["--sft", str(sft_file), "--base", str(base_model), "--out", str(out_dir), "--checkpoints", str(ckpt),
            "--settings", settings.to_json()]
    if not launch.get("deepspeed", True):
        args.append("--no-deepspeed")
    if launch.get("offload_optimizer"):
        args.append("--offload-optimizer")
    timeout = launch.get("timeout_minutes")
    run_training(args, gpus_per_node=procs, nnodes=nodes, log_file=log_file,
                 timeout=float(timeout) * 60 if timeout else None)
    if not (Path(out_dir) / "config.json").is_file():
        raise InputFileError(f"{out_dir}: training finished without writing the model (see {log_file})")


def direct_answer_rows(pool_file: PathLike | None, *, limit: int | None, seed: int,
                       data: str = "synthetic") -> pd.DataFrame:
    """Questions with a short reference answer, for the base model's direct-answer pretraining.

    ``data: synthetic`` draws fresh problems from the embedded generator with another seed,
    so the base model learns the tasks rather than the pool's answers (the difficulty
    labels it later computes on the pool would otherwise measure memory); ``pool`` samples
    the pool itself.
    """
    from s1flow.nano import generate_pool
    from s1flow.pool import question_hash

    n = limit or 2000
    if data == "synthetic":
        fresh = generate_pool(n, seed=seed + 7919, duplicate_rate=0, near_duplicate_rate=0, junk_rate=0,
                              eval_overlap=0)
        rows = fresh.assign(qhash=fresh["question"].map(question_hash))
    elif data == "pool":
        if pool_file is None:
            raise ConfigError("config key 'models.<name>.pretrain.data': 'pool' needs the pool")
        rows = read_table(pool_file)
        require_columns(rows, ["qhash", "question", "solution"], str(pool_file))
    else:
        raise ConfigError(f"config key 'models.<name>.pretrain.data' must be 'synthetic' or 'pool', got {data!r}")
    rows = rows[rows["solution"].notna() & (rows["solution"].astype(str).str.len() <= 64)]
    if len(rows) > n:
        rows = rows.sample(n=n, random_state=seed)
    return rows[["qhash", "question", "solution"]].reset_index(drop=True)


def ask_for_work(question: str, template: str) -> str:
    """The question with a request to show the work: `template`'s ``{question}`` slot filled,
    or, for a template without the slot, the request appended after a blank line."""
    if QUESTION_SLOT in template:
        return template.replace(QUESTION_SLOT, question)
    return f"{question}\n\n{template}"


def worked_prompt_templates(prompt: str | Sequence[str]) -> list[str]:
    """The request templates of ``pretrain.worked_prompt`` (one string or a list), checked."""
    key = "config key 'models.<name>.pretrain.worked_prompt'"
    templates = [prompt] if isinstance(prompt, str) else list(prompt)
    if not templates:
        raise ConfigError(f"{key} is an empty list; give one request or a list of templates")
    for t in templates:
        if not isinstance(t, str) or not t.replace(QUESTION_SLOT, "").strip():
            raise ConfigError(f"{key}: every entry must be a non-empty request, got {t!r}")
        if t.count(QUESTION_SLOT) > 1:
            raise ConfigError(f"{key}: {t!r} has {QUESTION_SLOT} more than once")
    return templates


def worked_solution_rows(n: int, *, domains: list[str] | Mapping[str, float], seed: int,
                         prompt: str | Sequence[str], phrasing: str = "pool", fmt: str = "plain",
                         unasked: float = 0.0) -> pd.DataFrame:
    """Worked solutions of fresh synthetic problems, each asked for with a request from `prompt`.

    The nano base model learns from them that it *can* work a problem step by step when
    asked to; by default (no such request) it still answers directly. s1's fine-tuning then
    teaches it to think first on its own, inside the thinking section. `fmt` "plain" writes
    the steps then "Answer: x"; "think" writes them in s1's thinking/answer sections, so
    fine-tuning only has to teach the model to think unasked. `prompt` is one request or a
    list of templates drawn per row (seeded): a template with a ``{question}`` slot places the
    request around the question, one without is appended after it. Several placements keep a
    small model from reading the question at one fixed distance from the end of the prompt.
    A share `unasked` of the problems is also given without a request and answered directly,
    so the model learns that the request, not the kind of question, calls for the steps.
    """
    from s1flow.nano import PHRASINGS, generate_worked_solutions
    from s1flow.pool import question_hash
    from s1flow.train.sft import assistant_content

    if phrasing not in PHRASINGS:
        raise ConfigError(f"config key 'models.<name>.pretrain.worked_phrasing' must be 'pool', 'eval' or 'any', "
                          f"got {phrasing!r}")
    try:
        worked = generate_worked_solutions(n, seed + 104729, domains, phrasing=phrasing)
    except ValueError as e:
        raise ConfigError(f"config key 'models.<name>.pretrain.worked_domains': {e}") from None
    if fmt not in ("plain", "think"):
        raise ConfigError(f"config key 'models.<name>.pretrain.worked_format' must be 'plain' or 'think', got {fmt!r}")
    if not 0.0 <= unasked <= 1.0:
        raise ConfigError(f"config key 'models.<name>.pretrain.worked_unasked' must be in [0, 1], got {unasked}")
    templates = worked_prompt_templates(prompt)
    rng = random.Random(seed + 7919)
    questions = pd.Series([ask_for_work(q, rng.choice(templates)) for q in worked["question"]], dtype=object)
    if fmt == "think":
        solutions = [assistant_content(t, a) for t, a in zip(worked["trace"], worked["answer"], strict=True)]
    else:
        solutions = worked["trace"] + "\n\nAnswer: " + worked["answer"]
    rows = pd.DataFrame({"question": questions, "solution": solutions})
    k = round(unasked * len(worked))
    if k:
        plain = pd.DataFrame({"question": worked["question"][:k], "solution": "Answer: " + worked["answer"][:k]})
        rows = pd.concat([rows, plain], ignore_index=True)
    return rows.assign(qhash=rows["question"].map(question_hash))[["qhash", "question", "solution"]]


def run_build_model(tokenizer_dir: PathLike, out_dir: PathLike, *, spec: Mapping[str, Any], seed: int,
                    pool_file: PathLike | None = None, work_dir: PathLike, log_file: PathLike) -> None:
    """Random-init a tiny Qwen2 model; with ``spec.pretrain``, train it on direct answers (no thinking)."""
    spec = dict(spec)
    pretrain = spec.pop("pretrain", None)
    known = set(TinyModelSpec.__dataclass_fields__)
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigError(f"config key 'models': unknown model settings {unknown}; "
                          f"known: {sorted(known) + ['pretrain']}")
    work = Path(work_dir)
    if not pretrain:
        init_tiny_model(tokenizer_dir, out_dir, spec=TinyModelSpec(**spec), seed=seed)
        return
    init_dir = init_tiny_model(tokenizer_dir, work / "init", spec=TinyModelSpec(**spec), seed=seed)
    pretrain = dict(pretrain)
    limit = pretrain.pop("questions", None)
    rows = direct_answer_rows(pool_file, limit=limit, seed=seed, data=pretrain.pop("data", "synthetic"))
    n_worked = int(pretrain.pop("worked_questions", 0))
    domains = pretrain.pop("worked_domains", ["iteration"])
    domains = dict(domains) if isinstance(domains, Mapping) else list(domains)
    prompt = pretrain.pop("worked_prompt", "Show your work.")
    phrasing = str(pretrain.pop("worked_phrasing", "pool"))
    fmt = str(pretrain.pop("worked_format", "plain"))
    unasked = float(pretrain.pop("worked_unasked", 0.0))
    if n_worked:
        worked = worked_solution_rows(n_worked, domains=domains, seed=seed, prompt=prompt, phrasing=phrasing,
                                      fmt=fmt, unasked=unasked)
        rows = pd.concat([rows, worked], ignore_index=True).sample(frac=1.0, random_state=seed)
    block = int(pretrain.get("block_size", 256))
    write_sft_data(rows, init_dir, work / "direct.parquet", work / "direct.json", block_size=block, direct=True,
                   source="direct answers and worked solutions" if n_worked else "direct answers")
    # token-mean loss: this is the base model's pretraining (worked solutions next to short direct
    # answers), tuned with it; s1's per-sequence mean is for the SFT runs
    training = {"deepspeed": False, "processes_per_node": 1, "gradient_checkpointing": False,
                "global_batch_size": 16, "micro_batch_size": 16, "epochs": 3, "learning_rate": 1e-3,
                "block_size": block, "warmup_ratio": 0.05, "seed": seed, "loss_normalization": "token", **pretrain}
    run_train(work / "direct.parquet", init_dir, out_dir, work / "checkpoints", training=training, log_file=log_file)
