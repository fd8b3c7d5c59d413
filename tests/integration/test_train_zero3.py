"""SFT under DeepSpeed ZeRO-3: the config, resumption logic, input errors, and real 2-process CPU runs.

The integration tests launch ``torchrun --standalone --nproc_per_node 2 -m s1flow.train.entry``
with DeepSpeed's CPU accelerator (gloo) on a tiny Qwen2 model and 32 synthetic examples.
Every wait is bounded; every process a test starts is killed at the end (with its children:
torchrun puts its workers in their own sessions).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s1flow.errors import ConfigError, InputFileError
from s1flow.train.deepspeed_config import deepspeed_config
from s1flow.train.settings import TrainSettings

# --------------------------------------------------------------------------- unit tests (no processes)


def test_deepspeed_config_zero3():
    s = TrainSettings(global_batch_size=16, micro_batch_size=1)
    cfg = deepspeed_config(s, world_size=8, bf16=True)
    zero = cfg["zero_optimization"]
    assert zero["stage"] == 3
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert zero["overlap_comm"] is True and zero["contiguous_gradients"] is True
    assert "offload_optimizer" not in zero and "offload_param" not in zero
    assert cfg["bf16"] == {"enabled": True} and cfg["fp16"] == {"enabled": False}
    # the Trainer fills these from its arguments, so the two can never disagree
    for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
        assert cfg[key] == "auto"
    assert cfg["train_batch_size"] == 16  # checked by the Trainer against world x micro x accumulation
    assert "optimizer" not in cfg and "scheduler" not in cfg  # the Trainer's AdamW and cosine schedule
    json.dumps(cfg)

    off = deepspeed_config(s, world_size=8, bf16=False, offload_optimizer=True, offload_params=True)
    assert off["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert off["zero_optimization"]["offload_param"]["device"] == "cpu"
    assert off["optimizer"]["type"] == "AdamW" and off["optimizer"]["params"]["betas"] == "auto"
    assert off["bf16"] == {"enabled": False}

    two = deepspeed_config(TrainSettings(zero_stage=2), world_size=2, bf16=False)
    assert two["zero_optimization"]["stage"] == 2
    assert "stage3_gather_16bit_weights_on_model_save" not in two["zero_optimization"]
    with pytest.raises(ConfigError, match="not a multiple"):
        deepspeed_config(TrainSettings(global_batch_size=16, micro_batch_size=2), world_size=3, bf16=False)
    with pytest.raises(ConfigError, match="stage 3"):
        deepspeed_config(TrainSettings(zero_stage=2), world_size=2, bf16=False, offload_params=True)


def test_find_resume_checkpoint(tmp_path):
    from s1flow.train.trainer import find_resume_checkpoint

    assert find_resume_checkpoint(tmp_path / "absent") is None
    assert find_resume_checkpoint(tmp_path) is None
    for step, complete in ((5, True), (10, True), (15, False)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    (tmp_path / "checkpoint-99").write_text("not a directory")
    assert find_resume_checkpoint(tmp_path) == tmp_path / "checkpoint-10"  # 15 was cut short by a kill
    (tmp_path / "checkpoint-20").mkdir()
    (tmp_path / "checkpoint-20" / "trainer_state.json").write_text('{"global_step": 2')  # cut while written
    assert find_resume_checkpoint(tmp_path) == tmp_path / "checkpoint-10"


def test_resolve_bf16_and_settings(tmp_path):
    import torch

    from s1flow.train.entry import parse_settings
    from s1flow.train.trainer import resolve_bf16, steps_per_epoch

    assert steps_per_epoch(32, TrainSettings(global_batch_size=8, micro_batch_size=2), 2) == 4
    assert steps_per_epoch(1000, TrainSettings(), 16) == 63  # s1: 5 epochs x 63 = 315 steps

    assert resolve_bf16("true") is True and resolve_bf16("false") is False
    if not torch.cuda.is_available():
        assert resolve_bf16("auto") is False  # fp32 on CPU
    assert parse_settings('{"epochs": 2, "block_size": 64}') == TrainSettings(epochs=2, block_size=64)
    f = tmp_path / "s.json"
    f.write_text('{"learning_rate": 0.001}')
    assert parse_settings(str(f)).learning_rate == 0.001
    with pytest.raises(ConfigError, match="unknown settings"):
        parse_settings('{"epoch": 2}')
    with pytest.raises(ConfigError, match="not a JSON object"):
        parse_settings("{oops")


def test_inputs_are_checked_before_training(tmp_path, tiny_model_dir, monkeypatch):
    import pandas as pd
    import torch

    from s1flow.train.entry import main
    from s1flow.train.trainer import check_sft_inputs, train_sft

    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    s = TrainSettings(global_batch_size=8, micro_batch_size=2)
    good = tmp_path / "sft.parquet"
    pd.DataFrame({"qhash": ["a"], "text": ["<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"]}
                 ).to_parquet(good)
    summary = check_sft_inputs(good, tiny_model_dir, s, world_size=2)
    assert summary["gradient_accumulation_steps"] == 2 and summary["examples"] == 1
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"qhash": ["a"], "question": ["Q"]}).to_parquet(bad)
    with pytest.raises(InputFileError, match="bad.parquet: missing column"):
        check_sft_inputs(bad, tiny_model_dir, s, world_size=2)
    with pytest.raises(InputFileError, match="file not found"):
        check_sft_inputs(tmp_path / "none.parquet", tiny_model_dir, s, world_size=2)
    with pytest.raises(InputFileError, match="no config.json"):
        check_sft_inputs(good, tmp_path, s, world_size=2)
    with pytest.raises(ConfigError, match="not a multiple"):
        check_sft_inputs(good, tiny_model_dir, s, world_size=3)
    with pytest.raises(ConfigError, match="lr_scheduler"):
        check_sft_inputs(good, tiny_model_dir, TrainSettings(lr_scheduler="zigzag"), world_size=1)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="bf16 is 'true' but there is no CUDA device"):
            train_sft(good, tiny_model_dir, tmp_path / "o", settings=TrainSettings(bf16="true", global_batch_size=1),
                      checkpoint_dir=tmp_path / "c")
    # the entry turns them into exit status 2 with the message, before any process group exists
    code = main(["--sft", str(bad), "--base", str(tiny_model_dir), "--out", str(tmp_path / "o"),
                 "--checkpoints", str(tmp_path / "c")])
    assert code == 2
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- 2-process runs

SETTINGS = {"epochs": 8, "global_batch_size": 8, "micro_batch_size": 2, "learning_rate": 3e-3, "block_size": 256,
            "save_steps": 1000, "save_total_limit": 2, "bf16": "false", "seed": 1}
N_EXAMPLES = 32
STEPS = int(SETTINGS["epochs"] * N_EXAMPLES / SETTINGS["global_batch_size"])

_started: list[subprocess.Popen] = []


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a launched torchrun, its process group and every descendant (workers have their own sessions)."""
    pids = _descendants(proc.pid)
    for kind, pid in [("group", proc.pid)] + [("pid", p) for p in pids]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if kind == "group":
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


@pytest.fixture(scope="module", autouse=True)
def _no_stray_processes():
    yield
    for proc in _started:
        if proc.poll() is None or _descendants(proc.pid):
            _kill_tree(proc)


def _command(sft: Path, base: Path, out: Path, ckpt: Path, settings: dict, *extra: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "s1flow.train.entry", "--sft", str(sft), "--base", str(base), "--out", str(out),
            "--checkpoints", str(ckpt), "--settings", json.dumps(settings), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    fh = log.open("w")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    fh.close()
    _started.append(proc)
    return proc


def _run(cmd: list[str], log: Path, timeout: float) -> str:
    proc = _start(cmd, log)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        pytest.fail(f"training did not finish within {timeout} s; log tail:\n{log.read_text()[-3000:]}")
    text = log.read_text()
    assert proc.returncode == 0, f"exit {proc.returncode}; log tail:\n{text[-4000:]}"
    return text


@pytest.fixture(scope="module")
def sft_file(tiny_model_dir, tmp_path_factory) -> Path:
    from s1flow.curate.pool import question_hash
    from s1flow.io import write_parquet
    from s1flow.models import load_hf_tokenizer
    from s1flow.nano import generate_pool
    from s1flow.train.sft import build_sft_table

    pool = generate_pool(N_EXAMPLES, seed=3, duplicate_rate=0, near_duplicate_rate=0, junk_rate=0, eval_overlap=0)
    pool["qhash"] = [question_hash(q) for q in pool["question"]]
    table, report = build_sft_table(pool, load_hf_tokenizer(tiny_model_dir), SETTINGS["block_size"])
    assert report["examples"] == N_EXAMPLES
    path = tmp_path_factory.mktemp("sft") / "sft.parquet"
    write_parquet(table, path)
    return path


@pytest.fixture(scope="module")
def zero3_run(sft_file, tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("zero3")
    cmd = _command(sft_file, tiny_model_dir, root / "out", root / "ckpt", SETTINGS,
                   "--partition-report", str(root / "parts"))
    start = time.monotonic()
    log = _run(cmd, root / "log.txt", timeout=300)  # includes a first-time build of DeepSpeed's shm op
    return {"root": root, "log": log, "wall_s": time.monotonic() - start,
            "metrics": json.loads((root / "out" / "train_metrics.json").read_text())}


@pytest.mark.integration
def test_zero3_partitions_parameters(zero3_run):
    parts = [json.loads((zero3_run["root"] / "parts" / f"partition-rank{r}.json").read_text()) for r in (0, 1)]
    assert [p["rank"] for p in parts] == [0, 1]
    assert [p["args_world_size"] for p in parts] == [2, 2]  # the Trainer's own view, in each process
    assert [p["args_process_index"] for p in parts] == [0, 1]
    by_name = [{row["name"]: row for row in p["parameters"]} for p in parts]
    assert by_name[0].keys() == by_name[1].keys()
    big = [n for n, row in by_name[0].items() if row["full"] >= 1024]
    assert len(big) >= 5
    for name in by_name[0]:
        full = by_name[0][name]["full"]
        assert by_name[1][name]["full"] == full
        locals_ = [by_name[r][name]["local"] for r in (0, 1)]
        assert all(0 < n < full for n in locals_), (name, full, locals_)  # each rank holds a part
        assert full <= sum(locals_) <= full + 1, (name, full, locals_)  # the parts make the whole (+ padding)


@pytest.mark.integration
def test_zero3_trainer_layout_and_loss(zero3_run):
    m = zero3_run["metrics"]
    assert m["world_size"] == 2
    assert m["gradient_accumulation_steps"] == SETTINGS["global_batch_size"] // (SETTINGS["micro_batch_size"] * 2)
    assert m["global_batch_size"] == SETTINGS["global_batch_size"]
    assert m["deepspeed"] and m["zero_stage"] == 3 and m["bf16"] is False
    assert m["global_step"] == STEPS and m["resumed_from"] is None
    losses = [e["loss"] for e in m["loss"]]
    assert [e["step"] for e in m["loss"]] == list(range(1, STEPS + 1))
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.75 * first, losses
    assert m["tokens_seen"] == SETTINGS["epochs"] * m["input_tokens_per_epoch"]  # non-padding, both processes
    assert m["tokens_per_s"] > 0 and m["runtime_s"] > 0
    print(f"\nZeRO-3 x2 CPU: {m['tokens_per_s']:.0f} tokens/s over {m['runtime_s']:.1f} s of training, "
          f"{zero3_run['wall_s']:.1f} s wall; loss {losses[0]:.3f} -> {losses[-1]:.3f}")


@pytest.mark.integration
def test_zero3_model_loads_and_generates(zero3_run, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from s1flow.engines.hf import TransformersEngine

    out = zero3_run["root"] / "out"
    model = AutoModelForCausalLM.from_pretrained(str(out))
    tok = AutoTokenizer.from_pretrained(str(out))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert model.dtype == torch.float32 and model.config.use_cache
    trained = dict(model.named_parameters())
    changed = [n for n, p in base.named_parameters() if not torch.equal(p, trained[n])]
    assert len(changed) == len(trained)  # consolidated from the partitions: every tensor trained, none empty
    assert tok.chat_template and tok.convert_tokens_to_ids("<|fim_pad|>") == tok.pad_token_id
    enc = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    gen = model.generate(**enc, max_new_tokens=8, do_sample=False)
    assert gen.shape[1] == enc["input_ids"].shape[1] + 8 or gen[0, -1].item() == tok.eos_token_id
    engine = TransformersEngine(out, device="cpu")
    assert engine.vocab_width == model.get_output_embeddings().weight.shape[0]


@pytest.mark.integration
def test_zero3_matches_plain_data_parallel(zero3_run, sft_file, tiny_model_dir, tmp_path):
    """ZeRO-3 partitions the same computation: its losses track plain DDP's step for step."""
    settings = {**SETTINGS, "epochs": 2}
    _run(_command(sft_file, tiny_model_dir, tmp_path / "out", tmp_path / "ckpt", settings, "--no-deepspeed"),
         tmp_path / "log.txt", timeout=180)
    ddp = json.loads((tmp_path / "out" / "train_metrics.json").read_text())
    assert ddp["world_size"] == 2 and not ddp["deepspeed"]
    z3 = zero3_run["metrics"]["loss"]
    # same data order and initial weights; the learning rate schedules differ after step 1
    assert ddp["loss"][0]["loss"] == pytest.approx(z3[0]["loss"], rel=1e-4)


@pytest.mark.integration
def test_zero3_resumes_after_kill(sft_file, tiny_model_dir, tmp_path):
    settings = {**SETTINGS, "epochs": 12, "save_steps": 4, "save_total_limit": 3}
    steps = int(settings["epochs"] * N_EXAMPLES / settings["global_batch_size"])
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    cmd = _command(sft_file, tiny_model_dir, out, ckpt, settings)
    proc = _start(cmd, tmp_path / "log1.txt")
    deadline = time.monotonic() + 240
    done = []
    while time.monotonic() < deadline and proc.poll() is None:
        done = [p for p in ckpt.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
        if any(int(p.name.split("-")[1]) >= 8 for p in done):
            break
        time.sleep(0.2)
    tail = (tmp_path / "log1.txt").read_text()[-3000:]
    assert proc.poll() is None, f"the first run ended before it could be killed:\n{tail}"
    assert done, f"no checkpoint within 240 s:\n{tail}"
    _kill_tree(proc)  # a hard kill: no chance to save anything more
    assert not (out / "train_metrics.json").exists()
    complete = sorted(int(p.name.split("-")[1]) for p in ckpt.glob("checkpoint-*")
                      if (p / "trainer_state.json").is_file())
    assert complete and complete[-1] < steps

    log = _run(cmd, tmp_path / "log2.txt", timeout=240)  # the same command again, as Snakemake would
    m = json.loads((out / "train_metrics.json").read_text())
    assert m["resumed_from_step"] == complete[-1], log[-2000:]
    assert f"resuming from {ckpt / f'checkpoint-{complete[-1]}'}" in log
    assert m["global_step"] == steps
    assert [e["step"] for e in m["loss"]] == list(range(1, steps + 1))  # history kept, no step repeated
    assert m["tokens_seen"] == settings["epochs"] * m["input_tokens_per_epoch"]
    assert m["tokens_seen_this_run"] < m["tokens_seen"]
    state = json.loads((ckpt / f"checkpoint-{steps}" / "trainer_state.json").read_text())
    assert state["global_step"] == steps


@pytest.mark.integration
def test_weights_do_not_depend_on_logging_steps(sft_file, tiny_model_dir, tmp_path):
    """The base model's pretraining logs every 25 steps to save time: logging reads the loss, it
    must not change a weight (one process, no DeepSpeed, as the pretraining runs)."""
    weights = []
    for every in (1, 3):
        out = tmp_path / f"log{every}"
        settings = {**SETTINGS, "logging_steps": every, "save_steps": 1000}
        cmd = [sys.executable, "-m", "s1flow.train.entry", "--sft", str(sft_file), "--base", str(tiny_model_dir),
               "--out", str(out / "model"), "--checkpoints", str(out / "ckpt"), "--settings", json.dumps(settings),
               "--no-deepspeed"]
        _run(cmd, out.with_suffix(".txt"), timeout=180)
        metrics = json.loads((out / "model" / "train_metrics.json").read_text())
        steps = metrics["global_step"]
        assert steps == STEPS and len(metrics["loss"]) == -(-steps // every)  # every `every` steps and the last
        weights.append((out / "model" / "model.safetensors").read_bytes())
    assert weights[0] == weights[1]
