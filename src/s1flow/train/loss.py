"""How the SFT loss averages over a global batch (config key ``training.loss_normalization``).

- ``sequence`` (s1's behaviour, S1_REFERENCE section 9.5): the loss of an optimizer step is
  the mean, over the sequences of the global batch (micro batches x gradient accumulation
  steps x processes), of each sequence's own mean over its trained tokens. Every sequence
  weighs the same whatever its length, as in s1's runs (micro batch 1 on 16 GPUs, no
  accumulation, transformers 4.46: each GPU's loss was the token mean of its one sequence and
  the gradients were averaged across GPUs). A sequence without trained tokens (label -100
  everywhere, e.g. cut off by the block size) is left out of the mean.
- ``token``: the mean over every trained token of the global batch, so long traces weigh
  more; the Hugging Face Trainer's own reduction (``num_items_in_batch`` gathered across
  processes, ``average_tokens_across_devices``).

:func:`sft_trainer_class` gives the Trainer that applies the setting. With ``sequence`` it
counts the global batch's sequences once per optimizer step and divides each micro batch's
sum of per-sequence means by that count, times the number of processes: DeepSpeed (and DDP)
average the gradients across processes and, with the Trainer's ``scale_wrt_gas=False``,
sum them across accumulation steps, so the step's gradient is exactly that of the global
per-sequence mean, whatever the micro batch, accumulation and process count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s1flow.errors import ConfigError

if TYPE_CHECKING:
    import torch

#: accepted values of ``training.loss_normalization`` (the first is the default, s1's)
LOSS_NORMALIZATIONS = ("sequence", "token")
IGNORE_INDEX = -100


def check_loss_normalization(value: Any) -> str:
    """`value` if it is a known loss normalization; else a ConfigError naming the key."""
    if value not in LOSS_NORMALIZATIONS:
        raise ConfigError(f"training.loss_normalization must be one of {list(LOSS_NORMALIZATIONS)} "
                          f"('sequence' = s1's per-sequence mean, 'token' = mean over all trained tokens), "
                          f"got {value!r}")
    return value


def shifted_labels(labels: torch.Tensor) -> torch.Tensor:
    """The target of every position: the next token's label, -100 after the last one.

    Padding instead of slicing keeps the logits contiguous (no copy of a batch x length x
    vocabulary tensor), as the Hugging Face causal-LM loss does.
    """
    import torch.nn.functional as F

    return F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]


def loss_sequences(labels: torch.Tensor) -> torch.Tensor:
    """How many rows of `labels` (batch x length) have at least one trained target."""
    return (shifted_labels(labels) != IGNORE_INDEX).any(dim=-1).sum()


def sequence_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over the rows of each row's mean next-token cross-entropy over its trained targets.

    `logits` is batch x length x vocabulary (any float dtype; the loss is computed in fp32),
    `labels` batch x length with -100 where nothing is trained. Rows without a trained
    target add 0.
    """
    import torch.nn.functional as F

    targets = shifted_labels(labels).to(logits.device)
    per_token = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1),
                                ignore_index=IGNORE_INDEX, reduction="none").view(targets.shape)
    counts = (targets != IGNORE_INDEX).sum(dim=-1)
    return (per_token.sum(dim=-1) / counts.clamp(min=1)).sum()


def sft_trainer_class():
    """A Hugging Face Trainer subclass taking ``loss_normalization=`` ('sequence' or 'token')."""
    import torch
    from transformers import Trainer

    class SFTTrainer(Trainer):
        """The Trainer with the loss averaged per sequence (``sequence``) or per token (``token``)."""

        def __init__(self, *args: Any, loss_normalization: str = LOSS_NORMALIZATIONS[0], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.loss_normalization = check_loss_normalization(loss_normalization)
            if self.loss_normalization == "sequence":
                if self.args.n_gpu > 1:
                    raise ConfigError("training.loss_normalization 'sequence' needs one device per process "
                                      "(torchrun), not torch DataParallel over several GPUs")
                # compute_loss divides by the whole step's sequence count: no further division
                self.loss_is_scaled_for_ga = True

        def get_batch_samples(self, epoch_iterator, num_batches: int, device):
            """The step's micro batches and, for ``sequence``, the global batch's count of trained sequences."""
            batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
            if self.loss_normalization == "token":
                return batches, num_items
            count = torch.tensor(sum(int(loss_sequences(b["labels"])) for b in batches if "labels" in b),
                                 device=device)
            if self.args.world_size > 1:
                count = self.accelerator.gather(count).sum()
            return batches, count

        def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):
            if self.loss_normalization == "token" or "labels" not in inputs:
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            labels = inputs["labels"]
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            total = sequence_loss_sum(logits, labels)
            if model.training and num_items_in_batch is not None:
                # the step's global sequence count; the processes' gradients are averaged, hence x processes
                loss = total / num_items_in_batch.clamp(min=1) * self.accelerator.num_processes
            else:  # outside a training step (evaluation): this batch's own per-sequence mean
                loss = total / loss_sequences(labels).clamp(min=1)
            return (loss, outputs) if return_outputs else loss

    return SFTTrainer
