"""The training rules (workflow/rules/train.smk): SFT tables, then fine-tuned models.

- ``run_sft_data``: a subset -> ``results/sft/<subset>.parquet`` (formatted text, token
  counts) and a report of how many examples exceed the block size.
- ``run_train``: an SFT table + a base model -> a fine-tuned Hugging Face model directory,
  launched on one or several processes / nodes (``s1flow.train.launch``); checkpoints live
  outside the output so a killed job restarted by Snakemake resumes from the last one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.errors import ConfigError, InputFileError
from s1flow.io import read_table, require_columns, write_json, write_parquet
from s1flow.models import load_hf_tokenizer
from s1flow.train.launch import run_training
from s1flow.train.settings import TrainSettings
from s1flow.train.sft import build_sft_table

log = logging.getLogger(__name__)
PathLike = str | os.PathLike

#: ``training`` keys that are about where and how to launch, not hyperparameters
LAUNCH_KEYS = ("enabled", "base_model", "subsets", "gpus_per_node", "processes_per_node", "nodes", "gpu_memory_gib",
               "deepspeed", "timeout_minutes", "mem_mb", "runtime_minutes", "offload_optimizer", "protect_models",
               "seeds")


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
    table, report = build_sft_table(rows, load_hf_tokenizer(tokenizer_dir), block_size, direct=direct,
                                    control=control, chunk_tokens=chunk_tokens)
    report = {"source": source, "block_size": block_size, **report}
    write_parquet(table, out)
    write_json(report, report_out)
    log.info("%s: %d examples, %d exceed the block size of %d tokens", source, len(table),
             report.get("over_block_size", 0), block_size)
    return report


#: small files of a local base model that tell one model from another at the same path
#: (architecture, and the tiny models' spec, seed and tokenizer); weights are too large to hash
BASE_MODEL_STAMPS = ("config.json", "s1flow_spec.json", "s1flow_init.json")


def _fingerprint(sft_file: PathLike, base_model: PathLike, settings: TrainSettings, world: str) -> str:
    h = hashlib.sha256()
    h.update(Path(sft_file).read_bytes())
    h.update(f"{base_model}\x1f{settings.to_json()}\x1f{world}".encode())
    for name in BASE_MODEL_STAMPS:
        f = Path(base_model) / name
        if f.is_file():
            h.update(b"\x1e" + name.encode() + b"\x1f" + f.read_bytes())
    return h.hexdigest()[:16]


def run_train(sft_file: PathLike, base_model: PathLike, out_dir: PathLike, checkpoint_dir: PathLike, *,
              training: Mapping[str, Any], log_file: PathLike, seed: int | None = None) -> None:
    """Fine-tune `base_model` on an SFT table; resumes from `checkpoint_dir` when it matches this run."""
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
