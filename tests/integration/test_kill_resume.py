"""Kill and resume: each long label stage killed mid-way, then rerun with the same arguments.

Every test runs the stage function for real in a subprocess of its own process group, waits
until some but not all of its work is done, kills the group with SIGKILL, runs the same call
again to completion and compares with an uninterrupted run in another directory:

- the outputs are equal (the same table, the same report, the same model weights);
- no finished item is computed again: the resumed run computes exactly the items the killed
  run had not stored, and the killed and resumed runs together ask the teacher / judge
  endpoint exactly what the uninterrupted run asked (a request held unanswered when the
  kill came was never computed, so it is asked again).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openai_server import serve

import s1flow
from s1flow.curate.pool import question_hash
from s1flow.io import write_parquet

#: the subprocess: one stage function of s1flow.stages.labels called with JSON keyword arguments;
#: with S1FLOW_TEST_GENERATED set, the transformers engine appends one line per request it finished
RUNNER = r"""
import json, logging, os, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
counter = os.environ.get("S1FLOW_TEST_GENERATED")
if counter:
    from s1flow.engines import hf
    generate = hf.TransformersEngine.generate
    def counted(self, requests):
        out = generate(self, requests)
        with open(counter, "a") as fh:
            fh.write("".join(json.dumps(list(r.prompt)) + "\n" for r in requests))
        return out
    hf.TransformersEngine.generate = counted
from s1flow.stages import labels
getattr(labels, sys.argv[1])(**json.loads(sys.argv[2]))
"""

SRC = str(Path(s1flow.__file__).resolve().parents[1])


def _env(**extra: str) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    # one thread a process: runs side by side on two cores without oversubscribing them
    return {**os.environ, "PYTHONPATH": SRC + (os.pathsep + path if path else ""), "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def _start(stage: str, kwargs: Mapping[str, Any], log: Path, **env: str) -> subprocess.Popen:
    """The stage in a new session (its own process group), output to `log`."""
    args = json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()})
    with log.open("a") as fh:
        return subprocess.Popen([sys.executable, "-c", RUNNER, stage, args], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=_env(**env), start_new_session=True)


def _finish(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        pytest.fail(f"the stage did not finish within {timeout} s:\n{log.read_text()[-3000:]}")
    assert rc == 0, log.read_text()[-3000:]


def _run(stage: str, kwargs: Mapping[str, Any], log: Path, **env: str) -> None:
    _finish(_start(stage, kwargs, log, **env), log)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the stage's whole process group: nothing gets to save or clean up."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _kill_when(proc: subprocess.Popen, ready: Callable[[], bool], log: Path, timeout: float = 90) -> None:
    """Kill the stage's process group as soon as `ready()` holds; fail if the stage ends first."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"the stage ended before it could be killed:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not ready within {timeout} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.02)
    finally:
        _kill_group(proc)


def _jsonl_records(path: Path) -> list[dict]:
    """The whole records of a JSONL cache after its fingerprint line (a torn last line is not one)."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[1:-1]  # the piece after the last newline was not finished
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def _question_pool(questions: list[str], solutions: list[str | None] | None = None) -> pd.DataFrame:
    n = len(questions)
    return pd.DataFrame({"qhash": [question_hash(q) for q in questions], "question": questions,
                         "solution": solutions or [None] * n, "cot_type": ["math"] * n, "source": ["test"] * n,
                         "metadata": ["{}"] * n, "domain": [None] * n})


def _asked(server) -> collections.Counter:
    """How many completions the server gave for each distinct request (messages and parameters)."""
    return collections.Counter(json.dumps(r.body, sort_keys=True) for r in server.answered)


# --------------------------------------------------------------------------- difficulty labels


@pytest.mark.integration
def test_difficulty_labels_resume_after_kill(tiny_model_dir, tmp_path):
    """The transformers engine answers pool questions (sampled, seeded per question); killed after
    some batches reached the answer cache, the rerun answers only the others, and the labels, the
    report and every answer equal an uninterrupted run's."""
    from s1flow.nano import generate_pool

    fresh = generate_pool(16, seed=11, duplicate_rate=0, near_duplicate_rate=0, junk_rate=0, eval_overlap=0)
    pool = _question_pool(fresh["question"].tolist(), fresh["solution"].tolist())
    n = len(pool)
    write_parquet(pool, tmp_path / "pool.parquet")
    spec = {"alias": "tiny", "model": str(tiny_model_dir), "engine": "transformers", "max_tokens": 24,
            "temperature": 0.8, "engine_options": {"batch_size": 2, "device": "cpu", "dtype": "float32"}}

    def kwargs(root: Path) -> dict:
        return {"pool_file": tmp_path / "pool.parquet", "out": root / "correct_tiny.parquet", "spec": spec, "seed": 5,
                "grader": "rule", "judge": None, "cache_dir": root / "cache", "report": root / "correct_tiny.json"}

    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    cache = run / "cache" / "answers-tiny.jsonl"
    proc = _start("run_difficulty", kwargs(run), run / "log.txt", S1FLOW_TEST_GENERATED=str(run / "killed.txt"))
    reference = _start("run_difficulty", kwargs(ref), ref / "log.txt")  # alongside: two cores
    _kill_when(proc, lambda: len(_jsonl_records(cache)) >= 2, run / "log.txt")
    stored = {r["key"] for r in _jsonl_records(cache)}
    assert 0 < len(stored) < n and not (run / "correct_tiny.parquet").exists()

    _run("run_difficulty", kwargs(run), run / "log.txt", S1FLOW_TEST_GENERATED=str(run / "resumed.txt"))
    _finish(reference, ref / "log.txt")

    # each question answered once: the rerun generated exactly the answers the kill had not stored
    resumed = (run / "resumed.txt").read_text().splitlines()
    assert len(resumed) == n - len(stored)
    records = _jsonl_records(cache)
    keys = [r["key"] for r in records]
    assert len(keys) == n and set(keys) == set(pool["qhash"])  # every key stored once, none twice
    answers = {r["key"]: r["value"] for r in records}
    assert answers == {r["key"]: r["value"] for r in _jsonl_records(ref / "cache" / "answers-tiny.jsonl")}
    pd.testing.assert_frame_equal(pd.read_parquet(run / "correct_tiny.parquet"),
                                  pd.read_parquet(ref / "correct_tiny.parquet"))
    assert (run / "correct_tiny.json").read_bytes() == (ref / "correct_tiny.json").read_bytes()


# --------------------------------------------------------------------------- teacher traces and domains


def _served_stage(tmp_path: Path, stage: str, kwargs: Callable[[Path, str], dict], out_files: list[str],
                  reply_dir: str, hold_after: int) -> tuple[collections.Counter, collections.Counter]:
    """Run an endpoint stage uninterrupted (ref/) and killed + resumed (run/), each against its own
    counting server; the killed run's server answers `hold_after` requests and holds the rest.

    Returns what the uninterrupted run asked and what the killed and resumed runs asked together.
    """
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    with serve() as srv:
        _run(stage, kwargs(ref, srv.url), ref / "log.txt")
        reference = _asked(srv)
    replies = run / "cache" / reply_dir
    with serve(hold_after=hold_after) as srv:
        proc = _start(stage, kwargs(run, srv.url), run / "log.txt")
        _kill_when(proc, lambda: len(list(replies.glob("*.json"))) >= hold_after and len(srv.requests) > hold_after,
                   run / "log.txt")
        killed = _asked(srv)
    assert sum(killed.values()) == hold_after == len(list(replies.glob("*.json")))
    for name in out_files:
        assert not (run / name).exists()
    with serve() as srv:
        _run(stage, kwargs(run, srv.url), run / "log.txt")
        resumed = _asked(srv)
    for name in out_files:
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(run / name), pd.read_parquet(ref / name))
        else:
            assert (run / name).read_bytes() == (ref / name).read_bytes()
    return reference, killed + resumed


@pytest.mark.integration
def test_teacher_traces_resume_after_kill(tmp_path):
    """Killed with some traces stored and others in flight, the rerun asks the teacher only for the
    traces it had not stored: every question's trace is computed once."""
    questions = [f"What is {i} times {i + 3}?" for i in range(14)]
    write_parquet(_question_pool(questions), tmp_path / "pool.parquet")

    def kwargs(root: Path, url: str) -> dict:
        teacher = {"base_url": url, "model": "teacher", "max_tokens": 512, "temperature": 0.0, "concurrency": 3,
                   "max_retries": 0}
        return {"pool_file": tmp_path / "pool.parquet", "label_files": [], "out": root / "teacher_api.parquet",
                "teacher": teacher, "cache_dir": root / "cache"}

    reference, together = _served_stage(tmp_path, "run_teacher_traces", kwargs, ["teacher_api.parquet"],
                                        "teacher", hold_after=5)
    assert len(reference) == len(questions) and set(reference.values()) == {1}
    assert together == reference
    table = pd.read_parquet(tmp_path / "run" / "teacher_api.parquet")
    assert table["trace"].notna().all() and len(table) == len(questions)


@pytest.mark.integration
def test_domain_labels_resume_after_kill(tmp_path):
    """Domains by the judge, some questions asked again because no reply names a code of the rubric:
    killed mid-way, the killed and resumed runs together ask exactly what an uninterrupted run asks,
    and the labels and the report are the same."""
    questions = [q for i in range(6) for q in (f"Is {91 + 2 * i} a prime?", f"What is the probability of {i} sixes?",
                                               f"Teach me song number {i}.")]
    write_parquet(_question_pool(questions), tmp_path / "pool.parquet")
    rubric = tmp_path / "msc.json"
    rubric.write_text(json.dumps([{"code": c, "title": t, "descriptions": [t], "prompt": f"### {t}\n* Code: {c}"}
                                  for c, t in (("05", "Combinatorics"), ("11", "Number theory"),
                                               ("60", "Probability theory"))]))

    def kwargs(root: Path, url: str) -> dict:
        judge = {"base_url": url, "model": "judge", "concurrency": 2, "max_retries": 0, "reply_tries": 3,
                 "reply_parsing": "s1"}
        return {"pool_file": tmp_path / "pool.parquet", "out": root / "domain.parquet", "rubric": rubric,
                "judge": judge, "cache_dir": root / "cache", "report": root / "domain.json"}

    reference, together = _served_stage(tmp_path, "run_domains", kwargs, ["domain.parquet", "domain.json"],
                                        "domain", hold_after=7)
    songs = 6  # never a code of the rubric: asked three times each, the same request every time
    assert sum(reference.values()) == len(questions) + 2 * songs
    assert together == reference
    report = json.loads((tmp_path / "run" / "domain.json").read_text())
    assert (report["labelled"], report["null"], report["judge"]["requests"]) == (12, songs, len(questions) + 2 * songs)


# --------------------------------------------------------------------------- the nano base model's pretraining


def _workers_of(path: Path) -> list[int]:
    """Processes whose command line names `path` (the training worker of a build)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if str(path).encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


def _complete_checkpoints(ckpt: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in ckpt.glob("checkpoint-*") if (p / "trainer_state.json").is_file())


@pytest.mark.integration
def test_base_model_pretraining_resumes_after_kill(tiny_model_dir, tmp_path):
    """The nano base model (random init, then pretraining on direct answers) killed after a
    checkpoint mid-epoch: the rerun keeps the initial weights, continues from the newest
    checkpoint (no finished step trained again) and ends with the weights of an uninterrupted build."""
    tokenizer = tiny_model_dir.parent / "tokenizer"
    spec = {"hidden_size": 128, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1, "intermediate_size": 128,
            "max_position_embeddings": 256,
            "pretrain": {"questions": 40, "epochs": 2, "global_batch_size": 4, "micro_batch_size": 4,
                         "block_size": 64, "save_steps": 3, "save_total_limit": 2,
                         "logging_steps": 1}}  # a loss per step: no step trained twice
    def kwargs(root: Path) -> dict:
        return {"tokenizer_dir": tokenizer, "out_dir": root / "model", "spec": spec, "seed": 3,
                "work_dir": root / "work", "log_file": root / "workers.log"}

    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir(), run.mkdir()
    ckpt = run / "work" / "checkpoints"
    proc = _start("run_build_model", kwargs(run), run / "log.txt")
    reference = _start("run_build_model", kwargs(ref), ref / "log.txt")  # alongside: two cores
    _kill_when(proc, lambda: any(s >= 6 for s in _complete_checkpoints(ckpt)), run / "log.txt", timeout=150)
    deadline = time.monotonic() + 30  # the training worker (a session of its own) goes down with its parent
    while _workers_of(run / "work") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _workers_of(run / "work"), "a training worker outlived the killed build"
    done = _complete_checkpoints(ckpt)
    assert done and not (run / "model" / "model.safetensors").exists()
    init_file = run / "work" / "init" / "model.safetensors"
    init, made = init_file.read_bytes(), (init_file.stat().st_ino, init_file.stat().st_mtime_ns)

    _run("run_build_model", kwargs(run), run / "log.txt")
    _finish(reference, ref / "log.txt", timeout=150)

    steps = json.loads((ref / "model" / "train_metrics.json").read_text())["global_step"]
    assert done[-1] < steps and done[-1] % (steps // 2)  # killed mid-way, after a checkpoint inside an epoch
    assert (init_file.stat().st_ino, init_file.stat().st_mtime_ns) == made  # kept, not made again
    assert init_file.read_bytes() == init
    metrics = json.loads((run / "model" / "train_metrics.json").read_text())
    assert metrics["resumed_from_step"] == done[-1] and metrics["global_step"] == steps
    assert [e["step"] for e in metrics["loss"]] == list(range(1, steps + 1))  # no step trained twice
    assert (run / "model" / "model.safetensors").read_bytes() == (ref / "model" / "model.safetensors").read_bytes()
    assert (run / "work" / "init" / "model.safetensors").read_bytes() == \
        (ref / "work" / "init" / "model.safetensors").read_bytes()
