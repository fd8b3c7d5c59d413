"""The training launcher's process handling: timeouts, signals and leftover workers kill whole process groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from s1flow.errors import S1FlowError
from s1flow.train.launch import (
    run_command,
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an orphan whose reaper has not collected it yet is dead too
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _wait_dead(pid: int, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


# a launcher stand-in: starts a worker that ignores SIGTERM (so only SIGKILL ends it), in the
# launcher's process group or, as torchrun does, in a session of its own
_PARENT = textwrap.dedent("""
    import signal, subprocess, sys, time
    worker = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('worker up', flush=True); "
        "time.sleep(120)"], start_new_session=NEW_SESSION)
    print("WORKER", worker.pid, flush=True)
    time.sleep(120)
""")


def _parent(new_session: bool = False) -> str:
    return _PARENT.replace("NEW_SESSION", str(new_session))


def _worker_pid(log: Path, seconds: float = 20.0) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                if line.startswith("WORKER "):
                    return int(line.split()[1])
        time.sleep(0.05)
    raise AssertionError(f"no worker pid in {log}: {log.read_text() if log.exists() else ''}")


@pytest.mark.parametrize("new_session", [False, True], ids=["same-group", "own-session"])
def test_timeout_kills_the_whole_group(tmp_path, monkeypatch, new_session):
    monkeypatch.setattr("s1flow.train.launch.KILL_GRACE_S", 1.0)
    monkeypatch.setattr("s1flow.train.launch.SCAN_INTERVAL_S", 0.2)
    log = tmp_path / "train.log"
    t0 = time.monotonic()
    with pytest.raises(S1FlowError, match="time limit"):
        run_command([sys.executable, "-c", _parent(new_session)], log_file=log, timeout=3)
    assert time.monotonic() - t0 < 30
    pid = _worker_pid(log)
    assert _wait_dead(pid), f"worker {pid} survived the timeout"


@pytest.mark.parametrize("new_session", [False, True], ids=["same-group", "own-session"])
def test_sigterm_kills_the_whole_group(tmp_path, new_session):
    """Snakemake cancelling the job sends SIGTERM to the process that called run_command."""
    log = tmp_path / "train.log"
    driver = textwrap.dedent(f"""
        import sys
        import s1flow.train.launch as launch
        launch.KILL_GRACE_S = 1.0
        launch.SCAN_INTERVAL_S = 0.2
        try:
            launch.run_command([sys.executable, "-c", {_parent(new_session)!r}], log_file={str(log)!r})
        except launch.S1FlowError as exc:
            print("STOPPED:", exc, flush=True)
            sys.exit(7)
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    try:
        pid = _worker_pid(log)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 7 and "terminated" in out
    assert _wait_dead(pid), f"worker {pid} survived SIGTERM of the launcher"


def test_keyboard_interrupt_kills_the_whole_group(tmp_path):
    log = tmp_path / "train.log"
    driver = textwrap.dedent(f"""
        import sys
        import s1flow.train.launch as launch
        launch.KILL_GRACE_S = 1.0
        launch.SCAN_INTERVAL_S = 0.2
        try:
            launch.run_command([sys.executable, "-c", {_parent(True)!r}], log_file={str(log)!r})
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
            sys.exit(8)
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    try:
        pid = _worker_pid(log)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 8 and "INTERRUPTED" in out
    assert _wait_dead(pid), f"worker {pid} survived Ctrl-C"


def test_leftover_workers_are_stopped_after_a_normal_exit(tmp_path):
    """A launcher that exits while a worker still runs does not leave the worker behind."""
    log = tmp_path / "train.log"
    code = textwrap.dedent("""
        import subprocess, sys
        w = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        print("WORKER", w.pid, flush=True)
    """)
    run_command([sys.executable, "-c", code], log_file=log)
    assert _wait_dead(_worker_pid(log))


def test_timeout_kills_torchrun_workers(tmp_path, monkeypatch):
    """The real layout: torchrun starts every worker in a session of its own."""
    monkeypatch.setattr("s1flow.train.launch.KILL_GRACE_S", 2.0)
    monkeypatch.setattr("s1flow.train.launch.SCAN_INTERVAL_S", 0.2)
    worker = tmp_path / "worker.py"
    # one pid file per worker: two workers printing to the shared stdout can interleave their lines
    worker.write_text("import os, pathlib, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      f"pathlib.Path({str(tmp_path)!r}, 'pid.' + os.environ['LOCAL_RANK'])"
                      ".write_text(str(os.getpid()))\ntime.sleep(300)\n")
    log = tmp_path / "train.log"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker)]
    with pytest.raises(S1FlowError, match="time limit"):
        run_command(cmd, log_file=log, timeout=20, env={**os.environ, "OMP_NUM_THREADS": "1"})
    pids = [int(p.read_text()) for p in sorted(tmp_path.glob("pid.*"))]
    assert len(pids) == 2, log.read_text()
    for pid in pids:
        assert _wait_dead(pid), f"torchrun worker {pid} survived"


def test_launcher_dies_with_its_caller(tmp_path):
    """Even a SIGKILLed caller (no chance to clean up) takes the launcher down (Linux death signal)."""
    if sys.platform != "linux":
        pytest.skip("prctl death signal is Linux only")
    log = tmp_path / "train.log"
    code = "import os, time\nprint('WORKER', os.getpid(), flush=True)\ntime.sleep(120)\n"
    driver = textwrap.dedent(f"""
        import sys
        import s1flow.train.launch as launch
        launch.run_command([sys.executable, "-c", {code!r}], log_file={str(log)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver])
    try:
        pid = _worker_pid(log)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _wait_dead(pid), f"launcher {pid} outlived its SIGKILLed caller"


def test_training_worker_exit_flushes_and_skips_the_teardown(tmp_path):
    """exit_now: buffered output and log records still arrive, the status is kept, atexit never runs."""
    log = tmp_path / "w.log"
    code = textwrap.dedent(f"""
        import atexit, logging, sys
        from s1flow.train.entry import exit_now
        logging.basicConfig(filename={str(log)!r}, level=logging.INFO)
        atexit.register(lambda: print("TEARDOWN", flush=True))
        logging.getLogger("w").info("trained")
        sys.stdout.write("summary")  # no newline, no flush: only exit_now's flush delivers it
        exit_now(3)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and r.stdout == "summary"
    assert "trained" in log.read_text()
