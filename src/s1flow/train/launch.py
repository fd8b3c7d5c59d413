"""Launching the per-process training entry on one process, one node or several SLURM nodes.

One code path for every scale (the train rule calls :func:`run_training`):

- one process: ``python -m s1flow.train.entry ...``;
- one node, N processes: ``python -m torch.distributed.run --standalone --nproc_per_node N
  -m s1flow.train.entry ...`` (torchrun picks a free port itself);
- several nodes inside a SLURM allocation: ``srun`` starts one torchrun per node, and the
  torchruns meet at a c10d rendezvous on the first node of the allocation::

      srun --nodes 2 --ntasks 2 --ntasks-per-node 1 --kill-on-bad-exit=1 --overlap \\
          python -m torch.distributed.run --nnodes 2 --nproc_per_node 8 \\
          --rdzv_backend c10d --rdzv_endpoint node01:29500 --rdzv_id $SLURM_JOB_ID \\
          -m s1flow.train.entry ...

  ``--ntasks`` is given explicitly because inside a job step (the Snakemake SLURM executor
  runs a rule as ``srun -n1 ...``) the inherited ``SLURM_NTASKS=1`` would otherwise clash
  with two nodes; ``--overlap`` lets the new step share the node the rule's own step holds.
  A multi-node rule declares ``resources: mpi="srun"`` and ``tasks`` = ``nodes`` (the
  executor then runs the rule without the wrapping step). The executor removes the
  allocation's ``SLURM_*`` variables but the job id from the rule's environment, so the node
  list comes from ``scontrol show job`` when it is not in the environment.

The launch runs in its own process group; a timeout, Ctrl-C or SIGTERM (Snakemake cancelling
the job) terminates the group and every descendant recorded while it ran (torchrun puts each
worker in a session of its own), so no worker outlives the job.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from s1flow.errors import ConfigError, S1FlowError

ENTRY_MODULE = "s1flow.train.entry"
#: seconds between SIGTERM and SIGKILL when the process group is stopped
KILL_GRACE_S = 10.0
#: lines of the log quoted in the error of a failed run
TAIL_LINES = 40


# --------------------------------------------------------------------------- node lists

_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets: ``a[1,2],b`` -> [``a[1,2]``, ``b``]."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"node list {text!r}: unbalanced ']'")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ConfigError(f"node list {text!r}: unbalanced '['")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _expand_range_list(body: str, where: str) -> list[str]:
    """``01-03,07`` -> [``01``, ``02``, ``03``, ``07``] (zero padding kept as written)."""
    out: list[str] = []
    for item in body.split(","):
        item = item.strip()
        if not item:
            raise ConfigError(f"node list {where!r}: empty range item")
        if "-" in item:
            lo, _, hi = item.partition("-")
            if not (lo.isdigit() and hi.isdigit()):
                raise ConfigError(f"node list {where!r}: bad range {item!r}")
            if int(hi) < int(lo):
                raise ConfigError(f"node list {where!r}: descending range {item!r}")
            width = len(lo) if lo.startswith("0") else 0
            out.extend(str(i).zfill(width) for i in range(int(lo), int(hi) + 1))
        else:
            if not item.isdigit():
                raise ConfigError(f"node list {where!r}: bad range item {item!r}")
            out.append(item)
    return out


def _expand_host(pattern: str) -> list[str]:
    """One host pattern with any number of bracket groups: ``gpu-[1-2]-[3-4]`` -> 4 names."""
    m = _BRACKET.search(pattern)
    if m is None:
        if "[" in pattern or "]" in pattern:
            raise ConfigError(f"node list {pattern!r}: unbalanced brackets")
        return [pattern]
    head, tail = pattern[: m.start()], pattern[m.end():]
    return [head + mid + rest for mid in _expand_range_list(m.group(1), pattern) for rest in _expand_host(tail)]


def expand_nodelist(nodelist: str) -> list[str]:
    """Host names of a SLURM node list, in order (pure Python; ``scontrol show hostnames`` does the same).

    Handles ``node[01-03,07]``, ``a1,b[2-3]`` and several bracket groups per name
    (``gpu-[1-2]-[3-4]`` -> gpu-1-3, gpu-1-4, gpu-2-3, gpu-2-4).
    """
    if not nodelist or not nodelist.strip():
        raise ConfigError("node list is empty")
    hosts: list[str] = []
    for part in _split_top_level(nodelist.strip()):
        hosts.extend(_expand_host(part))
    return hosts


def slurm_hostnames(nodelist: str, *, use_scontrol: bool = True) -> list[str]:
    """Expand a node list with ``scontrol show hostnames`` when available, else in Python."""
    scontrol = shutil.which("scontrol") if use_scontrol else None
    if scontrol:
        try:
            out = subprocess.run([scontrol, "show", "hostnames", nodelist], capture_output=True, text=True,
                                 timeout=30, check=True).stdout.split()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    return expand_nodelist(nodelist)


# --------------------------------------------------------------------------- commands

def _slurm_nodes(env: Mapping[str, str]) -> int | None:
    """Nodes of the job allocation (not of the current job step), if SLURM says."""
    for key in ("SLURM_JOB_NUM_NODES", "SLURM_NNODES"):
        value = env.get(key, "")
        if value.strip().isdigit():
            return int(value)
    return None


def scontrol_job(job_id: str) -> dict[str, str]:
    """The fields of ``scontrol --oneliner show job`` for `job_id` (empty if unknown or no scontrol)."""
    scontrol = shutil.which("scontrol")
    if not scontrol or not job_id.isdigit():
        return {}
    try:
        out = subprocess.run([scontrol, "--oneliner", "show", "job", job_id], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(item.split("=", 1) for item in out.split() if "=" in item)


def scontrol_allocation(job_id: str) -> tuple[str, int] | None:
    """(node list, node count) of SLURM job `job_id` from ``scontrol show job``, or None.

    The Snakemake SLURM executor runs a rule with every ``SLURM_*`` variable but the job id
    removed, so inside a rule the allocation's nodes are looked up from the controller.
    """
    fields = scontrol_job(job_id)
    nodelist, num = fields.get("NodeList", ""), fields.get("NumNodes", "").split("-")[0]
    if not nodelist or nodelist == "(null)" or not num.isdigit():
        return None
    return nodelist, int(num)


def launch_command(entry_args: Sequence[str], *, gpus_per_node: int, nnodes: int, env: Mapping[str, str],
                   port: int = 29500, python: str = sys.executable) -> list[str]:
    """The command that starts ``nnodes`` x ``gpus_per_node`` training processes.

    ``gpus_per_node`` is the number of processes per node (GPUs, or CPU processes when
    training on CPU). Several nodes need a SLURM allocation (``SLURM_JOB_ID`` in `env`);
    without one, the job runs on this node alone (with a warning), which keeps the global
    batch (the entry derives accumulation from the world size) but not the speed.
    """
    nproc, nnodes = int(gpus_per_node), int(nnodes)
    if nproc < 1:
        raise ConfigError(f"training: processes per node must be >= 1, got {nproc}")
    if nnodes < 1:
        raise ConfigError(f"training.nodes must be >= 1, got {nnodes}")
    entry = ["-m", ENTRY_MODULE, *map(str, entry_args)]
    job_id = env.get("SLURM_JOB_ID", "").strip()
    if nnodes > 1 and not job_id:
        warnings.warn(f"training.nodes = {nnodes} but there is no SLURM allocation (SLURM_JOB_ID is not set): "
                      f"training on this node only with {nproc} processes", RuntimeWarning, stacklevel=2)
        nnodes = 1
    if nnodes == 1:
        if nproc == 1:
            return [python, *entry]
        return [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *entry]

    allocated = _slurm_nodes(env)
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if allocated is None or not nodelist:
        found = scontrol_allocation(job_id)
        if found:
            nodelist, allocated = nodelist or found[0], found[1] if allocated is None else allocated
    if allocated is not None and allocated < nnodes:
        raise ConfigError(f"training.nodes = {nnodes} but the SLURM allocation {job_id} has {allocated} node(s); "
                          f"request {nnodes} nodes for the training job (resources: nodes={nnodes})")
    if not nodelist:
        raise ConfigError(f"SLURM allocation {job_id} has no SLURM_JOB_NODELIST; cannot find the rendezvous host")
    head = slurm_hostnames(nodelist)[0]
    return [
        "srun", "--nodes", str(nnodes), "--ntasks", str(nnodes), "--ntasks-per-node", "1",
        "--kill-on-bad-exit=1", "--overlap",
        python, "-m", "torch.distributed.run",
        "--nnodes", str(nnodes), "--nproc_per_node", str(nproc),
        "--rdzv_backend", "c10d", "--rdzv_endpoint", f"{head}:{int(port)}", "--rdzv_id", job_id,
        *entry,
    ]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def launch_env(env: Mapping[str, str], *, cuda_available: bool, nproc: int = 1,
               cpus: int | None = None) -> dict[str, str]:
    """The environment of the training processes.

    On CPU: ``DS_ACCELERATOR=cpu`` (DeepSpeed would otherwise probe for CUDA) and
    ``OMP_NUM_THREADS`` = usable cores / processes per node (at least 1), so the processes
    do not oversubscribe the cores. Values the caller already set are kept, and nothing is
    added on GPU.
    """
    out = dict(env)
    if not cuda_available:
        out.setdefault("DS_ACCELERATOR", "cpu")
        threads = max(1, (cpus if cpus is not None else _cpu_count()) // max(1, int(nproc)))
        out.setdefault("OMP_NUM_THREADS", str(threads))
    return out


# --------------------------------------------------------------------------- running

def log_tail(path: str | os.PathLike, lines: int = TAIL_LINES, max_chars: int = 6000) -> str:
    """The last `lines` lines of a log file (at most `max_chars` characters)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    tail = "\n".join(text.splitlines()[-lines:])
    return tail[-max_chars:]


def _proc_table() -> dict[int, tuple[int, int, str, str]] | None:
    """pid -> (ppid, pgrp, state, start time) of every process, from /proc; None without /proc."""
    root = Path("/proc")
    if not (root / "self" / "stat").is_file():
        return None
    table = {}
    for entry in root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
        # cstime priority nice threads itrealvalue starttime ...; comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 19:
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0], fields[19])
    return table


class _ProcessTree:
    """The processes a launch started: its process group plus every descendant seen so far.

    torchrun starts each worker in a session of its own, so killing the launcher's process
    group alone would orphan the workers; descendants are therefore recorded while the
    launch runs (with their start times, so a recycled pid is never signalled) and signalled
    one by one.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.known: dict[int, str] = {}

    def scan(self) -> None:
        table = _proc_table()
        if table is None:
            return
        children: dict[int, list[int]] = {}
        for pid, (ppid, _pgrp, _state, _start) in table.items():
            children.setdefault(ppid, []).append(pid)
        todo = [self.pid] if self.pid in table else []
        todo += [pid for pid, (_pp, pgrp, _st, _s) in table.items() if pgrp == self.pid]
        seen: set[int] = set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            self.known[pid] = table[pid][3]
            todo.extend(children.get(pid, []))

    def alive(self) -> list[int]:
        """Recorded processes (and group members) still running; zombies do not count."""
        table = _proc_table()
        if table is None:
            try:
                os.killpg(self.pid, 0)
            except (ProcessLookupError, PermissionError):
                return []
            return [self.pid]
        out = [pid for pid, start in self.known.items()
               if pid in table and table[pid][3] == start and table[pid][2] not in ("Z", "X")]
        out += [pid for pid, (_pp, pgrp, state, _s) in table.items()
                if pgrp == self.pid and state not in ("Z", "X") and pid not in out]
        return out

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def kill_process_tree(proc: subprocess.Popen, tree: _ProcessTree | None = None, grace: float | None = None) -> None:
    """SIGTERM every process of the launch (its group and descendants), SIGKILL what is left after `grace` s."""
    grace = KILL_GRACE_S if grace is None else grace
    tree = tree or _ProcessTree(proc.pid)
    tree.scan()
    tree.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is None:
            tree.scan()
        elif not tree.alive():
            break
        time.sleep(0.05)
    tree.signal(signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


class _Terminated(BaseException):
    """SIGTERM arrived while the training ran (raised in the main thread by the handler)."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an exception in the main thread for the duration (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    fired = False

    def handler(signum, frame):  # noqa: ARG001
        nonlocal fired
        if not fired:  # a second SIGTERM must not interrupt the cleanup the first one started
            fired = True
            raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: seconds between scans of the launch's process tree while it runs
SCAN_INTERVAL_S = 2.0


def _wait(proc: subprocess.Popen, tree: _ProcessTree, timeout: float | None) -> int:
    """Wait for `proc`, recording its descendants now and then; TimeoutExpired after `timeout` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        tree.scan()
        step = SCAN_INTERVAL_S if deadline is None else min(SCAN_INTERVAL_S, max(0.0, deadline - time.monotonic()))
        try:
            return proc.wait(timeout=step)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def _death_signal_setter():
    """A pre-exec function that makes the child receive SIGTERM when this process dies (Linux prctl).

    Even a SIGKILLed caller then takes the launcher (torchrun, srun) down, and the launcher
    stops its workers. None off Linux or outside the main thread (the death signal fires when
    the forking *thread* exits). libc is resolved here, in the parent: the child only makes
    one foreign call between fork and exec (no imports, no locks).
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    term = int(signal.SIGTERM)

    def set_death_signal() -> None:
        prctl(1, term)  # PR_SET_PDEATHSIG = 1

    return set_death_signal


def run_command(cmd: Sequence[str], *, log_file: str | os.PathLike, env: Mapping[str, str] | None = None,
                timeout: float | None = None, cwd: str | os.PathLike | None = None) -> None:
    """Run `cmd` in its own process group with stdout and stderr to `log_file`.

    Raises S1FlowError with the tail of the log when the command fails or runs past
    `timeout` seconds. On a timeout, KeyboardInterrupt or SIGTERM every process of the
    launch (torchrun and its workers, or srun) is terminated before the exception propagates;
    processes it leaves behind after exiting are stopped too.
    """
    log_path = Path(log_file)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(c) for c in cmd]
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
                                    preexec_fn=_death_signal_setter())
        except OSError as exc:
            raise S1FlowError(f"cannot start the training command {cmd[0]!r}: {exc}") from exc
        tree = _ProcessTree(proc.pid)
        with _sigterm_raises():
            try:
                rc = _wait(proc, tree, timeout)
            except subprocess.TimeoutExpired:
                kill_process_tree(proc, tree)
                raise S1FlowError(f"training ran past its time limit of {timeout:g} s and was stopped "
                                  f"(all its processes); last lines of {log_path}:\n{log_tail(log_path)}") from None
            except _Terminated:
                kill_process_tree(proc, tree)
                raise S1FlowError(f"training was terminated (SIGTERM); stopped all its processes. "
                                  f"Log: {log_path}") from None
            except BaseException:  # KeyboardInterrupt and anything else: leave no workers behind
                kill_process_tree(proc, tree)
                raise
    if tree.alive():  # the launcher exited but left processes behind (a worker hanging on exit)
        kill_process_tree(proc, tree, grace=2.0)
    if rc != 0:
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        raise S1FlowError(f"training failed ({how}): {shlex.join(cmd)}\nlast lines of {log_path}:\n"
                          f"{log_tail(log_path)}")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def rendezvous_port(env: Mapping[str, str], base: int = 29500) -> int:
    """The multi-node rendezvous port: `base` + SLURM job id mod 500, so two jobs sharing a head node differ."""
    job = env.get("SLURM_JOB_ID", "").strip()
    return base + int(job) % 500 if job.isdigit() else base


def run_training(entry_args: Sequence[str], *, gpus_per_node: int, nnodes: int, log_file: str | os.PathLike,
                 timeout: float | None = None, port: int | None = None, cuda_available: bool | None = None,
                 python: str = sys.executable) -> None:
    """Launch the training entry on ``nnodes`` x ``gpus_per_node`` processes and wait for it.

    Output of every process goes to `log_file`; a failure raises S1FlowError quoting the
    end of the log. See :func:`run_command` for timeouts and termination. `port` (several
    nodes only) defaults to :func:`rendezvous_port`.
    """
    cuda = _cuda_available() if cuda_available is None else cuda_available
    env = launch_env(os.environ, cuda_available=cuda, nproc=gpus_per_node)
    port = rendezvous_port(env) if port is None else port
    cmd = launch_command(entry_args, gpus_per_node=gpus_per_node, nnodes=nnodes, env=env, port=port, python=python)
    run_command(cmd, log_file=log_file, env=env, timeout=timeout)
