"""Training settings (config section ``training``) and the batch arithmetic shared by every launcher.

Defaults are the paper's (S1_REFERENCE section 4): 5 epochs, global batch 16, lr 1e-5,
5 % warmup, cosine decay to 0, AdamW (0.9, 0.95), weight decay 1e-4, block size 32768,
gradient checkpointing, bf16 where the hardware supports it, DeepSpeed ZeRO-3, and the loss
averaged per sequence as in s1's runs (S1_REFERENCE section 9.5; ``loss_normalization``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from s1flow.errors import ConfigError
from s1flow.train.loss import check_loss_normalization


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one fine-tuning run (every field is a ``training`` config key)."""

    epochs: float = 5.0
    global_batch_size: int = 16
    micro_batch_size: int = 1
    learning_rate: float = 1e-5
    warmup_ratio: float = 0.05
    lr_scheduler: str = "cosine"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = 1e-4
    max_grad_norm: float = 1.0
    block_size: int = 32768
    gradient_checkpointing: bool = True
    bf16: str = "auto"  # "auto" (where supported), "true", "false"
    zero_stage: int = 3
    save_steps: int = 50
    save_total_limit: int = 2
    logging_steps: int = 1
    max_steps: int = -1
    seed: int = 42
    group_by_length: bool = False  # batch examples of similar length (less padding at micro batch > 1)
    loss_normalization: str = "sequence"  # s1's per-sequence mean, or "token" (s1flow.train.loss)
    deterministic: bool = True  # deterministic kernels (s1flow.determinism)

    def __post_init__(self) -> None:
        if self.global_batch_size < 1 or self.micro_batch_size < 1:
            raise ConfigError("training.global_batch_size and training.micro_batch_size must be >= 1")
        if self.bf16 not in ("auto", "true", "false"):
            raise ConfigError(f"training.bf16 must be 'auto', 'true' or 'false', got {self.bf16!r}")
        if self.zero_stage not in (0, 1, 2, 3):
            raise ConfigError(f"training.zero_stage must be 0..3, got {self.zero_stage}")
        if self.block_size < 16:
            raise ConfigError(f"training.block_size must be >= 16, got {self.block_size}")
        check_loss_normalization(self.loss_normalization)

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None, **overrides: Any) -> TrainSettings:
        """Settings from a config mapping; unknown keys are an error naming the key."""
        cfg = {**(cfg or {}), **overrides}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"config key 'training': unknown settings {unknown}; known: {sorted(known)}")
        return cls(**cfg)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def gradient_accumulation_steps(global_batch_size: int, micro_batch_size: int, world_size: int) -> int:
    """Steps that keep the global batch when the number of processes changes.

    global = micro x world x accumulation; an indivisible combination is an error rather
    than a silently different batch.
    """
    per_step = micro_batch_size * world_size
    if world_size < 1 or global_batch_size % per_step:
        raise ConfigError(f"training.global_batch_size {global_batch_size} is not a multiple of "
                          f"micro_batch_size {micro_batch_size} x {world_size} processes")
    return global_batch_size // per_step
