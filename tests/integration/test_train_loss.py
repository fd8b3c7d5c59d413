"""training.loss_normalization: s1's per-sequence mean (S1_REFERENCE 9.5) or the mean over all trained tokens.

The unit test checks the per-sequence sum on logits whose cross-entropies are known in closed form.
The integration tests fine-tune one step on four sequences of very different lengths and losses,
in several layouts (one process with one micro batch of 4 or 4 accumulation steps, two ZeRO-3
processes with 2 accumulation steps each), and compare the Trainer's logged loss and gradient norm
with the two definitions computed directly from the base model's logits.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from s1flow.errors import ConfigError
from s1flow.train.loss import check_loss_normalization, loss_sequences, sequence_loss_sum
from s1flow.train.settings import TrainSettings

LN2 = math.log(2.0)


def test_sequence_loss_sum_on_a_hand_computed_two_sequence_batch():
    # vocabulary of 2; logits [0, ln k] give the target 0 a cross-entropy of ln(1 + k)
    def row(k: float) -> list[float]:
        return [0.0, math.log(k)] if k else [0.0, 0.0]

    # sequence 1 (one trained target): ln 4 = 2 ln 2; sequence 2 (three targets): ln 2, ln 8, ln 2 -> mean 5/3 ln 2
    logits = torch.tensor([[row(3), row(1), row(1), row(1)],
                           [row(1), row(7), row(1), row(1)]], dtype=torch.float32)
    labels = torch.tensor([[-100, 0, -100, -100],  # position 0 predicts label[1]
                           [-100, 0, 0, 0]])
    total = sequence_loss_sum(logits, labels)
    assert total.item() == pytest.approx(2 * LN2 + (1 + 3 + 1) / 3 * LN2, rel=1e-6)
    assert int(loss_sequences(labels)) == 2
    per_sequence = total.item() / 2  # s1: every sequence weighs the same
    per_token = (2 + 1 + 3 + 1) * LN2 / 4  # the token mean weighs sequence 2 three times
    assert per_sequence == pytest.approx(11 / 6 * LN2) and per_token == pytest.approx(7 / 4 * LN2)
    # a row without a trained target adds nothing and is not counted
    none = torch.full((1, 4), -100)
    assert sequence_loss_sum(logits[:1], none).item() == 0.0 and int(loss_sequences(none)) == 0


def test_bad_loss_normalization_names_the_key():
    assert check_loss_normalization("token") == "token"
    assert TrainSettings().loss_normalization == "sequence"
    with pytest.raises(ConfigError, match="training.loss_normalization"):
        TrainSettings(loss_normalization="batch")


# --------------------------------------------------------------------------- one optimizer step, several layouts

ANSWERS = [
    "<|im_start|>" * 60,  # long and easy for the emphasised model: a low loss per token
    "seven plus two is nine",  # short and hard: a high loss per token
    "<|im_start|>" * 25 + " so",
    "the answer is four and then five",
]


@pytest.fixture(scope="module")
def loss_case(talky_model_dir, tmp_path_factory):
    import pandas as pd
    from transformers import AutoModelForCausalLM

    from s1flow.io import write_parquet
    from s1flow.models import load_hf_tokenizer
    from s1flow.train.sft import tokenize_and_mask

    texts = [f"<|im_start|>user\nquestion {i}<|im_end|>\n<|im_start|>assistant\n{a}<|im_end|>"
             for i, a in enumerate(ANSWERS)]
    root = tmp_path_factory.mktemp("loss")
    write_parquet(pd.DataFrame({"text": texts}), root / "sft.parquet")
    tok = load_hf_tokenizer(talky_model_dir)
    enc = tokenize_and_mask(texts, tok, 256)
    model = AutoModelForCausalLM.from_pretrained(str(talky_model_dir), dtype=torch.float32)
    model.train()  # as the Trainer runs it (the tiny model has no dropout)
    losses, counts = [], []
    for ids, labels in zip(enc["input_ids"], enc["labels"], strict=True):
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
        target = torch.tensor(labels[1:])
        ce = torch.nn.functional.cross_entropy(logits, target, ignore_index=-100, reduction="sum")
        losses.append(ce)
        counts.append(int((target != -100).sum()))
    per_sequence = sum(ce / n for ce, n in zip(losses, counts, strict=True)) / len(losses)
    per_token = sum(losses) / sum(counts)

    def grad_norm(loss: torch.Tensor) -> float:
        grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], retain_graph=True)
        return float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))

    ref = {"sequence": (per_sequence.item(), grad_norm(per_sequence)),
           "token": (per_token.item(), grad_norm(per_token)), "counts": counts}
    # the case tells the two apart
    assert abs(ref["sequence"][0] - ref["token"][0]) > 0.2 * ref["token"][0], ref
    return root, ref


def _train(root: Path, base: Path, name: str, *, procs: int, micro: int, norm: str, deepspeed: bool) -> dict:
    settings = {"epochs": 1, "global_batch_size": 4, "micro_batch_size": micro, "learning_rate": 1e-6,
                "warmup_ratio": 0.0, "block_size": 256, "gradient_checkpointing": False, "bf16": "false",
                "save_steps": 1000, "seed": 1, "loss_normalization": norm, "max_grad_norm": 1e9}
    out = root / name
    entry = ["-m", "s1flow.train.entry", "--sft", str(root / "sft.parquet"), "--base", str(base),
             "--out", str(out / "model"), "--checkpoints", str(out / "ckpt"), "--settings", json.dumps(settings)]
    if not deepspeed:
        entry.append("--no-deepspeed")
    cmd = [sys.executable, *(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs)]
                             if procs > 1 else []), *entry]
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, start_new_session=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    metrics = json.loads((out / "model" / "train_metrics.json").read_text())
    assert metrics["global_step"] == 1 and metrics["loss_normalization"] == norm
    (step,) = metrics["loss"]
    return step


@pytest.mark.integration
@pytest.mark.parametrize(("name", "procs", "micro", "norm", "deepspeed"), [
    ("seq_1proc_micro4", 1, 4, "sequence", False),
    ("seq_1proc_accum4", 1, 1, "sequence", False),
    ("seq_zero3_2proc_accum2", 2, 1, "sequence", True),
    ("tok_1proc_accum2", 1, 2, "token", False),
    ("tok_zero3_2proc_accum2", 2, 1, "token", True),
])
def test_one_step_loss_and_gradient_follow_the_definition(loss_case, talky_model_dir, name, procs, micro, norm,
                                                          deepspeed):
    root, ref = loss_case
    step = _train(root, talky_model_dir, name, procs=procs, micro=micro, norm=norm, deepspeed=deepspeed)
    loss, norm_ref = ref[norm]
    assert step["loss"] == pytest.approx(loss, rel=2e-3, abs=2e-4), (step, ref)
    assert step["grad_norm"] == pytest.approx(norm_ref, rel=2e-3), (step, ref)
