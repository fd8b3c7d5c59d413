"""The train stage keeps checkpoints of the same run for resuming and discards another run's."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

import s1flow.stages.train as train_stage
from s1flow.errors import ConfigError
from s1flow.stages.train import run_train, split_training_config
from s1flow.train.settings import TrainSettings, gradient_accumulation_steps


@pytest.fixture
def fake_launch(monkeypatch):
    """Record launches; the 'training' just writes the model config (the real one is tested in test_train_zero3)."""
    calls = []

    def run_training(args, *, gpus_per_node, nnodes, log_file, timeout=None):
        calls.append({"args": list(args), "procs": gpus_per_node, "nodes": nnodes})
        out = args[args.index("--out") + 1]
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w") as fh:
            fh.write("{}")

    monkeypatch.setattr(train_stage, "run_training", run_training)
    return calls


def test_checkpoints_resume_only_for_the_same_run(tmp_path, fake_launch):
    sft = tmp_path / "s1k.parquet"
    pd.DataFrame({"qhash": ["a"], "text": ["x"]}).to_parquet(sft)
    ckpt = tmp_path / "ckpt"
    training = {"processes_per_node": 2, "gpus_per_node": 0, "epochs": 1, "global_batch_size": 4,
                "micro_batch_size": 2, "enabled": True, "mem_mb": 1, "runtime_minutes": 1}
    run_train(sft, "base", tmp_path / "out", ckpt, training=training, log_file=tmp_path / "log")
    assert fake_launch[-1]["procs"] == 2 and fake_launch[-1]["nodes"] == 1
    (ckpt / "checkpoint-5").mkdir()
    run_train(sft, "base", tmp_path / "out", ckpt, training=training, log_file=tmp_path / "log")
    assert (ckpt / "checkpoint-5").is_dir(), "same data, model and settings: the checkpoint is resumed"
    run_train(sft, "base", tmp_path / "out", ckpt, training={**training, "epochs": 2}, log_file=tmp_path / "log")
    assert not (ckpt / "checkpoint-5").exists(), "changed settings: the old checkpoint is discarded"
    settings = json.loads(fake_launch[-1]["args"][fake_launch[-1]["args"].index("--settings") + 1])
    assert settings["epochs"] == 2 and "enabled" not in settings


def test_training_config_errors():
    with pytest.raises(ConfigError, match="learning_rte"):
        split_training_config({"learning_rte": 1e-5})
    launch_opts, settings = split_training_config({"nodes": 2, "gpus_per_node": 8, "block_size": 20000})
    assert launch_opts == {"nodes": 2, "gpus_per_node": 8} and settings.block_size == 20000
    assert TrainSettings().learning_rate == 1e-5 and TrainSettings().epochs == 5
    assert gradient_accumulation_steps(16, 1, 16) == 1 and gradient_accumulation_steps(16, 1, 8) == 2
    assert gradient_accumulation_steps(16, 8, 2) == 1
    with pytest.raises(ConfigError, match="multiple"):
        gradient_accumulation_steps(16, 3, 2)


def test_worked_solutions_for_pretraining_are_asked_for_and_answered():
    from s1flow.nano.pretrain import worked_solution_rows

    rows = worked_solution_rows(12, domains=["iteration"], seed=1, prompt="Show your work.")
    assert rows.equals(worked_solution_rows(12, domains=["iteration"], seed=1, prompt="Show your work."))
    assert list(rows.columns) == ["qhash", "question", "solution"] and rows["qhash"].is_unique
    assert rows["question"].str.endswith("\n\nShow your work.").all()
    for sol in rows["solution"]:
        assert sol.startswith(("Okay", "Alright", "Let me", "Hmm", "So", "Right", "Let's"))
        last = sol.rsplit("\n\nAnswer: ", 1)[1]
        assert f"so I end with {last}." in sol  # the worked answer is the one its steps reach
    with pytest.raises(ConfigError, match="worked_domains"):
        worked_solution_rows(3, domains=["alchemy"], seed=1, prompt="Show your work.")
    with pytest.raises(ConfigError, match="worked_phrasing"):
        worked_solution_rows(3, domains=["iteration"], seed=1, prompt="Show your work.", phrasing="formal")
    # the same solutions in s1's thinking and answer sections
    think = worked_solution_rows(12, domains=["iteration"], seed=1, prompt="Show your work.", fmt="think")
    assert think["question"].equals(rows["question"])
    for plain, sol in zip(rows["solution"], think["solution"], strict=True):
        steps, answer = plain.rsplit("\n\nAnswer: ", 1)
        assert sol == f"<|im_start|>think\n{steps}\n<|im_start|>answer\nAnswer: {answer}"
    with pytest.raises(ConfigError, match="worked_format"):
        worked_solution_rows(3, domains=["iteration"], seed=1, prompt="Show your work.", fmt="xml")


def test_worked_solutions_are_asked_for_in_a_seeded_mix_of_templates():
    from s1flow.nano.pretrain import ask_for_work, worked_solution_rows

    assert ask_for_work("What is 2+2?", "Show your work.") == "What is 2+2?\n\nShow your work."
    assert ask_for_work("What is {x}?", "Work it out. {question}") == "Work it out. What is {x}?"
    templates = ["{question}\n\nShow your work.", "Show your work.\n\n{question}", "Explain each step. {question} Go."]
    plain = worked_solution_rows(60, domains=["iteration"], seed=3, prompt="Show your work.")
    mixed = worked_solution_rows(60, domains=["iteration"], seed=3, prompt=templates)
    assert mixed.equals(worked_solution_rows(60, domains=["iteration"], seed=3, prompt=templates))
    assert mixed["solution"].equals(plain["solution"]) and mixed["qhash"].is_unique
    bare = plain["question"].str.removesuffix("\n\nShow your work.")
    used = []
    for q, asked in zip(bare, mixed["question"], strict=True):
        matches = [t for t in templates if t.replace("{question}", q) == asked]
        assert len(matches) == 1, asked
        used.append(matches[0])
    assert set(used) == set(templates)  # every placement is drawn
    assert not mixed["question"].equals(worked_solution_rows(60, domains=["iteration"], seed=4, prompt=templates)
                                        ["question"])
    # a share of the problems is also asked plainly and answered directly
    twins = worked_solution_rows(60, domains=["iteration"], seed=3, prompt=templates, unasked=0.25)
    assert twins.iloc[:60].equals(mixed) and len(twins) == 75 and twins["qhash"].is_unique
    assert twins["question"].iloc[60:].tolist() == bare.iloc[:15].tolist()
    answers = [sol.rsplit("\n\nAnswer: ", 1)[1] for sol in plain["solution"].iloc[:15]]
    assert twins["solution"].iloc[60:].tolist() == [f"Answer: {a}" for a in answers]
    with pytest.raises(ConfigError, match="worked_unasked"):
        worked_solution_rows(3, domains=["iteration"], seed=1, prompt="Show your work.", unasked=1.5)
    for bad in ([], ["{question}"], ["  "], ["{question} and {question}"]):
        with pytest.raises(ConfigError, match="worked_prompt"):
            worked_solution_rows(3, domains=["iteration"], seed=1, prompt=bad)


def test_group_by_length_setting():
    assert TrainSettings.from_config({"group_by_length": True}).group_by_length
    assert not TrainSettings().group_by_length


def test_checkpoints_of_another_base_model_at_the_same_path_are_discarded(tmp_path, fake_launch):
    """A base model rebuilt at the same path with another shape or seed (its config or spec
    changed) must not resume from checkpoints trained from the old one."""
    sft = tmp_path / "direct.parquet"
    pd.DataFrame({"qhash": ["a"], "text": ["x"]}).to_parquet(sft)
    base, ckpt = tmp_path / "init", tmp_path / "ckpt"
    base.mkdir()
    (base / "config.json").write_text('{"num_hidden_layers": 2}')
    (base / "s1flow_spec.json").write_text('{"seed": 0}')
    training = {"processes_per_node": 1, "deepspeed": False, "epochs": 1, "global_batch_size": 1}
    run_train(sft, base, tmp_path / "out", ckpt, training=training, log_file=tmp_path / "log")
    (ckpt / "checkpoint-5").mkdir()
    run_train(sft, base, tmp_path / "out", ckpt, training=training, log_file=tmp_path / "log")
    assert (ckpt / "checkpoint-5").is_dir(), "the same base model: resumed"
    (base / "s1flow_spec.json").write_text('{"seed": 1}')
    run_train(sft, base, tmp_path / "out", ckpt, training=training, log_file=tmp_path / "log")
    assert not (ckpt / "checkpoint-5").exists(), "another seed at the same path: started afresh"
    (ckpt / "checkpoint-5").mkdir()
    (base / "config.json").write_text('{"num_hidden_layers": 3}')
    run_train(sft, base, tmp_path / "out", ckpt, training=training, log_file=tmp_path / "log")
    assert not (ckpt / "checkpoint-5").exists(), "another architecture at the same path: started afresh"


def test_tiny_model_init_is_made_once(tmp_path):
    """The initial model of a pretraining is kept by a rerun with the same tokenizer, spec and seed,
    made again when one of them changes, and never left half-written."""
    from s1flow.curate.tokenizer import train_bpe_tokenizer
    from s1flow.nano import generate_pool
    from s1flow.nano.tiny_model import TinyModelSpec, reuse_or_init_tiny_model

    pool = generate_pool(60, seed=1)
    train_bpe_tokenizer(pool["question"].tolist(), tmp_path / "tok", vocab_size=300)
    spec = TinyModelSpec(num_layers=1, intermediate_size=64, max_position_embeddings=64)
    init = reuse_or_init_tiny_model(tmp_path / "tok", tmp_path / "init", spec=spec, seed=0)
    weights = init / "model.safetensors"
    first = (weights.stat().st_ino, weights.stat().st_mtime_ns, weights.read_bytes())
    (tmp_path / ".init.partial").mkdir()  # left by a kill while a model was being made
    assert reuse_or_init_tiny_model(tmp_path / "tok", tmp_path / "init", spec=spec, seed=0) == init
    assert (weights.stat().st_ino, weights.stat().st_mtime_ns, weights.read_bytes()) == first
    reuse_or_init_tiny_model(tmp_path / "tok", tmp_path / "init", spec=spec, seed=1)
    assert weights.read_bytes() != first[2], "another seed: new weights"
    assert not (tmp_path / ".init.partial").exists()
    reuse_or_init_tiny_model(tmp_path / "tok", tmp_path / "init", spec=spec, seed=0)
    assert weights.read_bytes() == first[2], "the same seed again: the same weights"
