"""s1's supervised fine-tuning with the Hugging Face Trainer and DeepSpeed ZeRO-3.

:func:`train_sft` runs inside every process of a ``torchrun`` launch (torchrun sets
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``); ``python -m s1flow.train.entry`` is that per-process
entry. The hyperparameters are s1's (:class:`~s1flow.train.settings.TrainSettings`): AdamW
(0.9, 0.95), weight decay 1e-4, cosine schedule with 5 % warmup, gradient checkpointing,
the global batch kept constant through gradient accumulation whatever the process count,
and the loss averaged per sequence or per token (``loss_normalization``, :mod:`s1flow.train.loss`).

Precision: ``bf16 = "auto"`` trains in bf16 on CUDA devices that support it and in fp32
everywhere else. On CPU, DeepSpeed's CPU accelerator accepts bf16 but PyTorch's CPU bf16
kernels are slow on most machines and the tiny CPU runs exist to check the mechanics, so
CPU runs use fp32; ``bf16 = "true"`` forces bf16 (``"false"`` fp32), which on CPU only
works without DeepSpeed (the Trainer accepts bf16 on CPU only with ``use_cpu``, and that
turns DeepSpeed off), so ``"true"`` with DeepSpeed and no CUDA device is a ConfigError.

The world-size fix: on a machine without an accelerator, accelerate (which the Trainer uses
to learn the process layout) only knows a multi-process CPU run when it may not use
DeepSpeed, so with DeepSpeed it reports 1 process and rank 0 in every process -- every
process would then see the whole data set, save files and compute the DeepSpeed batch
for 1 process. :func:`_configure_accelerate_state` therefore initialises
``torch.distributed`` itself (gloo on CPU, NCCL on CUDA), builds accelerate's shared
``PartialState`` for DeepSpeed before the TrainingArguments exist, corrects its process
count, rank and backend from ``torch.distributed`` where they disagree, and the
TrainingArguments adopt that state (``accelerator_config.use_configured_state``); after
that ``args.world_size`` is checked against ``torch.distributed.get_world_size()``.

Resuming: checkpoints go to ``checkpoint_dir`` every ``save_steps`` optimizer steps (the
DeepSpeed engine state with its partitioned optimizer states, plus the consolidated model);
a restarted run continues from the newest complete ``checkpoint-N`` (one with
``trainer_state.json``; a directory left half-written by a killed job is skipped).

Output: ``out_dir`` is a Hugging Face model directory (consolidated weights gathered from
the ZeRO-3 partitions, config, generation config, tokenizer with its chat template) and
``out_dir/train_metrics.json``. Only rank 0 writes files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from s1flow.determinism import use_deterministic
from s1flow.errors import ConfigError, InputFileError, MissingDependencyError
from s1flow.io import honour_umask, read_table, require_string_column, write_json
from s1flow.models import CHATML_TEMPLATE, check_model_dir, load_hf_tokenizer
from s1flow.train.deepspeed_config import deepspeed_config
from s1flow.train.loss import sft_trainer_class
from s1flow.train.settings import TrainSettings, gradient_accumulation_steps
from s1flow.train.sft import SFTCollator, resolve_pad_token_id, tokenize_and_mask

log = logging.getLogger(__name__)

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
METRICS_FILE = "train_metrics.json"


# --------------------------------------------------------------------------- inputs


def process_layout() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the launcher's environment (1 process without one)."""
    def env(name: str, default: int) -> int:
        value = os.environ.get(name, "")
        try:
            return int(value) if value.strip() else default
        except ValueError as exc:
            raise ConfigError(f"environment variable {name}={value!r} is not an integer") from exc

    world = env("WORLD_SIZE", 1)
    rank = env("RANK", 0)
    local = env("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"bad process layout: RANK={rank} WORLD_SIZE={world}")
    return rank, world, local


def read_sft_texts(sft_file: str | os.PathLike) -> list[str]:
    """The ``text`` column of an SFT file (as :func:`s1flow.train.sft.build_sft_table` writes it)."""
    df = read_table(sft_file)
    require_string_column(df, "text", str(sft_file))
    texts = df["text"].tolist()
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise InputFileError(f"{sft_file}: column 'text' is empty in row(s) {empty[:10]}")
    return texts


def check_sft_inputs(sft_file: str | os.PathLike, base_model: str | os.PathLike, settings: TrainSettings, *,
                     world_size: int, deepspeed: bool = True) -> dict[str, Any]:
    """Validate everything a training launch needs; cheap enough to call before starting processes.

    Raises InputFileError for a bad SFT file, model directory or tokenizer and ConfigError
    for settings that cannot work (an indivisible batch, a tokenizer without a pad token,
    a missing DeepSpeed). Returns a small summary (examples, tokenizer pad id, accumulation).
    """
    if not 0.0 <= settings.warmup_ratio < 1.0:
        raise ConfigError(f"training.warmup_ratio must be in [0, 1), got {settings.warmup_ratio}")
    try:
        from transformers import SchedulerType

        SchedulerType(settings.lr_scheduler)
    except ValueError as exc:
        raise ConfigError(f"training.lr_scheduler: unknown schedule {settings.lr_scheduler!r}") from exc
    if settings.epochs <= 0 and settings.max_steps <= 0:
        raise ConfigError("training.epochs must be > 0 (or training.max_steps set)")
    accumulation = gradient_accumulation_steps(settings.global_batch_size, settings.micro_batch_size, world_size)
    texts = read_sft_texts(sft_file)
    check_model_dir(base_model)
    tokenizer = load_hf_tokenizer(base_model)
    pad = resolve_pad_token_id(tokenizer)
    if deepspeed:
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            raise MissingDependencyError("DeepSpeed is not installed (pip install deepspeed==0.19.8), "
                                         "or train without it (--no-deepspeed)")
    return {"examples": len(texts), "pad_token_id": pad, "gradient_accumulation_steps": accumulation}


def ensure_ds_accelerator() -> None:
    """Select DeepSpeed's CPU accelerator when there is no CUDA device (effective before deepspeed is imported)."""
    if "DS_ACCELERATOR" not in os.environ:
        import torch

        if not torch.cuda.is_available():
            os.environ["DS_ACCELERATOR"] = "cpu"


def resolve_bf16(setting: str) -> bool:
    """bf16 on or off: ``auto`` = a CUDA device with bf16 support; ``true``/``false`` force it."""
    import torch

    if setting == "true":
        return True
    if setting == "false":
        return False
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def find_resume_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The newest complete ``checkpoint-N`` under `checkpoint_dir` (None if there is none).

    Complete means the Trainer got as far as writing a readable ``trainer_state.json`` (it
    writes it after the model, optimizer and RNG states); half-written directories of a
    killed job, a state file cut by the kill included, are skipped with a warning.
    """
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in root.iterdir()
                    if p.is_dir() and (m := CHECKPOINT_RE.match(p.name))), reverse=True)
    for _step, path in found:
        state = path / "trainer_state.json"
        try:
            if isinstance(json.loads(state.read_text(encoding="utf-8")), dict):
                return path
        except (OSError, ValueError, TypeError):
            pass
        log.warning("%s: incomplete checkpoint (no readable trainer_state.json), skipped", path)
    return None


# --------------------------------------------------------------------------- distributed setup


def _single_process_env() -> None:
    """The environment torchrun would give a lone process (DeepSpeed always needs a process group)."""
    import socket

    if "LOCAL_RANK" in os.environ:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1"),
                       ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", str(port))):
        os.environ.setdefault(key, value)


def _init_distributed(world: int, local_rank: int, use_cuda: bool, *, deepspeed: bool, timeout_s: int) -> None:
    import torch
    import torch.distributed as dist

    if dist.is_initialized() or (world <= 1 and not deepspeed):
        return
    if world <= 1:
        _single_process_env()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=timedelta(seconds=timeout_s))


def _configure_accelerate_state(deepspeed: bool, cpu: bool) -> None:
    """Build accelerate's shared PartialState for this launch, with the world size torch.distributed has.

    Called after :func:`_init_distributed` and before TrainingArguments (which then adopt this
    state with ``use_configured_state``). accelerate reports 1 process for DeepSpeed on CPU
    (its CPU multi-process path excludes DeepSpeed); the count, rank, local rank and
    backend are taken from torch.distributed instead.
    """
    import torch.distributed as dist
    from accelerate.state import AcceleratorState, PartialState

    AcceleratorState._reset_state(reset_partial_state=True)
    previous = os.environ.get("ACCELERATE_USE_DEEPSPEED")
    if deepspeed:
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
    try:
        state = PartialState(cpu=cpu)
    finally:
        if previous is None:
            os.environ.pop("ACCELERATE_USE_DEEPSPEED", None)
        else:
            os.environ["ACCELERATE_USE_DEEPSPEED"] = previous
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
        if state.num_processes != world or state.process_index != rank:
            log.info("correcting accelerate's process layout (%d processes, rank %d) from torch.distributed "
                     "(%d processes, rank %d)", state.num_processes, state.process_index, world, rank)
            state.num_processes = world
            state.process_index = rank
            state.local_process_index = int(os.environ.get("LOCAL_RANK", rank))
            if state.backend is None:
                state.backend = dist.get_backend()


# --------------------------------------------------------------------------- dataset and callbacks


class _SFTDataset:
    """Pre-tokenised examples for the Trainer (a map-style dataset of dicts)."""

    def __init__(self, encoded: dict[str, list[list[int]]]) -> None:
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded["input_ids"])

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return {k: v[i] for k, v in self.encoded.items()}


def _partition_callback(report_dir: Path, rank: int, world: int):
    """A callback writing, per rank, ZeRO-3's full vs local partition size of every parameter."""
    from transformers import TrainerCallback

    class PartitionReport(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            rows = []
            for name, p in model.named_parameters():
                if hasattr(p, "ds_numel") and hasattr(p, "ds_tensor"):
                    rows.append({"name": name, "full": int(p.ds_numel), "local": int(p.ds_tensor.numel()),
                                 "shape": list(p.ds_shape)})
                else:
                    rows.append({"name": name, "full": int(p.numel()), "local": int(p.numel()),
                                 "shape": list(p.shape)})
            report_dir.mkdir(parents=True, exist_ok=True)
            data = {"rank": rank, "world_size": world, "args_world_size": args.world_size,
                    "args_process_index": args.process_index, "parameters": rows}
            (report_dir / f"partition-rank{rank}.json").write_text(json.dumps(data, indent=1) + "\n")

    return PartitionReport()


# --------------------------------------------------------------------------- training


def train_sft(sft_file: str | os.PathLike, base_model: str | os.PathLike, out_dir: str | os.PathLike, *,
              settings: TrainSettings, checkpoint_dir: str | os.PathLike, deepspeed: bool = True,
              offload_optimizer: bool = False, partition_report: str | os.PathLike | None = None) -> dict[str, Any]:
    """Fine-tune `base_model` on the SFT file in this process (one of torchrun's); return the metrics.

    Every process calls this with the same arguments. The final model goes to `out_dir`,
    checkpoints to `checkpoint_dir` (resumed from automatically); see the module docstring.
    `partition_report` (a directory) makes every rank write its ZeRO-3 partition sizes
    there (diagnostics for tests).
    """
    rank, world, local_rank = process_layout()
    if deepspeed:
        ensure_ds_accelerator()
    summary = check_sft_inputs(sft_file, base_model, settings, world_size=world, deepspeed=deepspeed)

    import torch
    from transformers import AutoConfig, TrainingArguments
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    use_deterministic(settings.deterministic)
    use_cuda = torch.cuda.is_available()
    bf16 = resolve_bf16(settings.bf16)
    if bf16 and deepspeed and not use_cuda:
        raise ConfigError("training.bf16 is 'true' but there is no CUDA device: the Trainer runs DeepSpeed in bf16 "
                          "only on accelerators; use bf16 'auto' or 'false' (fp32) on CPU, or --no-deepspeed")
    accumulation = summary["gradient_accumulation_steps"]
    out_dir, checkpoint_dir = Path(out_dir), Path(checkpoint_dir)

    _init_distributed(world, local_rank, use_cuda, deepspeed=deepspeed, timeout_s=1800)
    _configure_accelerate_state(deepspeed, cpu=not use_cuda and not deepspeed)

    ds_config = deepspeed_config(settings, world_size=world, bf16=bf16,
                                 offload_optimizer=offload_optimizer) if deepspeed else None
    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.micro_batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,  # a float < 1 is a ratio of the total steps
        adam_beta1=settings.adam_beta1,
        adam_beta2=settings.adam_beta2,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        optim="adamw_torch_fused" if use_cuda else "adamw_torch",
        gradient_checkpointing=settings.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if settings.gradient_checkpointing else None,
        bf16=bf16,
        use_cpu=not use_cuda and not deepspeed,
        deepspeed=ds_config,
        accelerator_config={"use_configured_state": True},
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit,
        report_to=[],
        seed=settings.seed,
        data_seed=settings.seed,
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=use_cuda,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        ddp_timeout=1800,
    )
    if args.world_size != world:
        raise RuntimeError(f"the Trainer sees {args.world_size} processes but torch.distributed has {world}; "
                           f"the process layout fix did not take")

    tokenizer = load_hf_tokenizer(base_model)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE  # the template the SFT texts were formatted with
    texts = read_sft_texts(sft_file)
    encoded = tokenize_and_mask(texts, tokenizer, settings.block_size)
    dataset = _SFTDataset(encoded)
    input_tokens = sum(len(x) for x in encoded["input_ids"])
    trained_tokens = sum(sum(1 for t in lab if t != -100) for lab in encoded["labels"])
    no_loss = sum(1 for lab in encoded["labels"] if all(t == -100 for t in lab))
    if no_loss:
        log.warning("%d of %d examples have no trained tokens left after truncation to %d tokens",
                    no_loss, len(texts), settings.block_size)

    # Import the model class before from_pretrained enters deepspeed.zero.Init (ZeRO-3).
    config = AutoConfig.from_pretrained(str(base_model))
    model_cls = MODEL_FOR_CAUSAL_LM_MAPPING[type(config)]
    # DeepSpeed keeps fp32 master weights itself and trains a bf16 module; without it the
    # Trainer autocasts an fp32 model (mixed precision), so the weights load as fp32.
    dtype = torch.bfloat16 if bf16 and deepspeed else torch.float32
    model = model_cls.from_pretrained(str(base_model), dtype=dtype)
    model.config.use_cache = False

    callbacks = [_partition_callback(Path(partition_report), rank, world)] if partition_report else []
    trainer = sft_trainer_class()(model=model, args=args, train_dataset=dataset,
                                  data_collator=SFTCollator(summary["pad_token_id"]), processing_class=tokenizer,
                                  callbacks=callbacks, loss_normalization=settings.loss_normalization)
    resume = find_resume_checkpoint(checkpoint_dir)
    if rank == 0:
        log.info("training %s on %d examples: %d processes, micro batch %d, accumulation %d, bf16 %s, "
                 "deepspeed %s, loss mean per %s%s", base_model, len(texts), world, settings.micro_batch_size,
                 accumulation, bf16, f"ZeRO-{settings.zero_stage}" if deepspeed else "off",
                 settings.loss_normalization,
                 f", resuming from {resume}" if resume else "")
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    wall = time.perf_counter() - start  # includes the DeepSpeed engine setup and checkpoint saves
    train_runtime = float(result.metrics.get("train_runtime", wall))

    model.config.use_cache = True
    trainer.save_model(str(out_dir))  # every rank takes part: ZeRO-3 gathers the partitions to rank 0
    state = trainer.state
    losses = [{"step": int(e["step"]), "loss": float(e["loss"]), "learning_rate": float(e.get("learning_rate", 0)),
               **({"grad_norm": float(e["grad_norm"])} if e.get("grad_norm") is not None else {})}
              for e in state.log_history if "loss" in e and "step" in e]
    session_tokens = state.num_input_tokens_seen - getattr(trainer, "_initial_num_input_tokens_seen", 0)
    metrics = {
        "base_model": str(base_model),
        "sft_file": str(sft_file),
        "examples": len(texts),
        "world_size": int(args.world_size),
        "micro_batch_size": settings.micro_batch_size,
        "gradient_accumulation_steps": int(args.gradient_accumulation_steps),
        "global_batch_size": int(args.world_size * args.per_device_train_batch_size * args.gradient_accumulation_steps),
        "deepspeed": bool(deepspeed),
        "zero_stage": settings.zero_stage if deepspeed else None,
        "bf16": bool(bf16),
        "loss_normalization": settings.loss_normalization,
        "device": "cuda" if use_cuda else "cpu",
        "epochs": float(state.epoch or 0.0),
        "global_step": int(state.global_step),
        "max_steps": int(state.max_steps),
        "resumed_from": str(resume) if resume else None,
        "resumed_from_step": _checkpoint_step(resume),
        "train_loss": sum(e["loss"] for e in losses) / len(losses) if losses else float(result.training_loss),
        "trainer_train_loss": float(result.training_loss),  # the Trainer's figure, for this invocation only
        "loss": losses,
        "input_tokens_per_epoch": input_tokens,
        "trained_tokens_per_epoch": trained_tokens,
        "examples_without_trained_tokens": no_loss,
        "tokens_seen": int(state.num_input_tokens_seen),
        "tokens_seen_this_run": int(session_tokens),
        "runtime_s": round(train_runtime, 3),
        "wall_s": round(wall, 3),
        "tokens_per_s": round(session_tokens / train_runtime, 2) if train_runtime > 0 else None,
        "settings": json.loads(settings.to_json()),
    }
    if args.process_index == 0:
        tokenizer.save_pretrained(str(out_dir))
        write_json(metrics, out_dir / METRICS_FILE)
        honour_umask(out_dir)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return metrics


def _checkpoint_step(path: Path | None) -> int | None:
    if path is None:
        return None
    m = CHECKPOINT_RE.match(path.name)
    return int(m.group(1)) if m else None


def steps_per_epoch(examples: int, settings: TrainSettings, world_size: int) -> int:
    """Optimizer steps per epoch (the last partial accumulation still makes a step, as in the Trainer)."""
    micro_batches = math.ceil(examples / (settings.micro_batch_size * world_size))
    accumulation = gradient_accumulation_steps(settings.global_batch_size, settings.micro_batch_size, world_size)
    return max(1, math.ceil(micro_batches / accumulation))
