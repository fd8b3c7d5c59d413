"""Per-process entry of an SFT run (what torchrun starts in each process).

    torchrun --standalone --nproc_per_node N -m s1flow.train.entry \\
        --sft SFT.parquet --base MODEL_DIR --out OUT_DIR --checkpoints CKPT_DIR \\
        --settings '{"epochs": 5, ...}'  [--no-deepspeed] [--offload-optimizer]

``--settings`` is a JSON object of ``training`` keys (:class:`~s1flow.train.settings.TrainSettings`)
or the path of a file holding one. On a machine without CUDA, ``DS_ACCELERATOR=cpu`` is
set before DeepSpeed is imported (DeepSpeed then runs on its CPU accelerator with gloo).
Exit status: 0 done, 2 a user error (bad file, model or setting; message on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path

from s1flow.errors import ConfigError, S1FlowError
from s1flow.train.settings import TrainSettings
from s1flow.train.trainer import (
    ensure_ds_accelerator,  # imports nothing heavy (no torch, no deepspeed)
    train_sft,
)


def parse_settings(value: str):
    """TrainSettings from a JSON object string or a JSON file path."""
    text = value
    path = Path(value)
    if not value.lstrip().startswith("{") and path.is_file():
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--settings: not a JSON object or a JSON file: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ConfigError("--settings: expected a JSON object of training settings")
    return TrainSettings.from_config(data)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m s1flow.train.entry", description=__doc__.split("\n\n")[0])
    p.add_argument("--sft", required=True, help="SFT table (parquet/jsonl/json/csv with a 'text' column)")
    p.add_argument("--base", required=True, help="base model directory (or hub name)")
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--checkpoints", required=True, help="checkpoint directory (resumed from when it holds one)")
    p.add_argument("--settings", default="{}", help="training settings: JSON object or JSON file")
    p.add_argument("--no-deepspeed", action="store_true", help="plain data parallel (DDP) instead of DeepSpeed")
    p.add_argument("--offload-optimizer", action="store_true", help="ZeRO-Offload the optimizer states to CPU")
    p.add_argument("--partition-report", default=None,
                   help="directory where every rank writes its ZeRO-3 parameter partition sizes (diagnostics)")
    return p


def close_process_group() -> None:
    """Destroy the distributed process group before exit: left to the interpreter's teardown,
    gloo's threads can abort a finished worker ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ensure_ds_accelerator()
    # DeepSpeed 0.19 calls torch.distributed collectives that torch 2.13 renamed, once per step.
    warnings.filterwarnings("ignore", message=r"`torch\.distributed\.\w+` is deprecated", category=FutureWarning)
    rank = int(os.environ.get("RANK", "0") or 0)
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s")
    try:
        settings = parse_settings(args.settings)
        metrics = train_sft(args.sft, args.base, args.out, settings=settings, checkpoint_dir=args.checkpoints,
                            deepspeed=not args.no_deepspeed, offload_optimizer=args.offload_optimizer,
                            partition_report=args.partition_report)
    except S1FlowError as exc:
        print(f"s1flow.train.entry: error: {exc}", file=sys.stderr)
        return 2
    finally:
        close_process_group()
    if rank == 0:
        summary = {k: metrics[k] for k in ("world_size", "gradient_accumulation_steps", "global_step", "train_loss",
                                           "tokens_seen", "runtime_s", "tokens_per_s", "resumed_from")}
        print(json.dumps(summary))
    return 0


def exit_now(code: int) -> None:
    """Flush and leave without the interpreter's teardown. Every output is written and closed by
    then; what the teardown would still run are C++ static destructors, and a gloo or DeepSpeed
    thread still joinable there aborts a finished worker ("terminate called without an active
    exception", SIGABRT), which fails the whole run."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
