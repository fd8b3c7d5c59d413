"""The training launcher: command lines per scale, node lists, running, failing and killing."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from s1flow.errors import ConfigError, S1FlowError
from s1flow.train.launch import (
    ENTRY_MODULE,
    expand_nodelist,
    launch_command,
    launch_env,
    rendezvous_port,
    run_command,
    run_training,
    scontrol_allocation,
    slurm_hostnames,
)

ARGS = ["--sft", "data.parquet", "--base", "model", "--out", "out", "--checkpoints", "ckpt", "--settings", "{}"]
PY = "/usr/bin/python3"


def _slurm_env(nodes: int, nodelist: str, job_id: str = "4242") -> dict[str, str]:
    return {"SLURM_JOB_ID": job_id, "SLURM_JOB_NUM_NODES": str(nodes), "SLURM_JOB_NODELIST": nodelist,
            # inside the rule's own job step (the executor wraps rules in `srun -n1`)
            "SLURM_NTASKS": "1", "SLURM_NNODES": "1", "PATH": os.environ.get("PATH", "")}


def _opt(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


# --------------------------------------------------------------------------- command lines

def test_cpu_one_process_is_plain_python():
    cmd = launch_command(ARGS, gpus_per_node=1, nnodes=1, env={}, python=PY)
    assert cmd == [PY, "-m", ENTRY_MODULE, *ARGS]


def test_cpu_two_processes_use_standalone_torchrun():
    cmd = launch_command(ARGS, gpus_per_node=2, nnodes=1, env={}, python=PY)
    assert cmd == [PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", ENTRY_MODULE, *ARGS]


def test_slurm_one_node_of_eight_gpus_is_standalone():
    cmd = launch_command(ARGS, gpus_per_node=8, nnodes=1, env=_slurm_env(1, "gpu07"), python=PY)
    assert "srun" not in cmd
    assert cmd[:6] == [PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "8"]
    assert cmd[-len(ARGS) - 2:] == ["-m", ENTRY_MODULE, *ARGS]


def test_slurm_two_nodes_of_eight_gpus(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)  # no scontrol: the Python expander answers
    cmd = launch_command(ARGS, gpus_per_node=8, nnodes=2, env=_slurm_env(2, "hgx[03-04]", "777"), port=29400,
                         python=PY)
    assert cmd[0] == "srun"
    run = cmd.index(PY)
    srun = cmd[:run]
    assert _opt(srun, "--nodes") == "2" and _opt(srun, "--ntasks") == "2" and _opt(srun, "--ntasks-per-node") == "1"
    assert "--kill-on-bad-exit=1" in srun
    torchrun = cmd[run:]
    assert torchrun[1:3] == ["-m", "torch.distributed.run"]
    assert _opt(torchrun, "--nnodes") == "2"
    assert _opt(torchrun, "--nproc_per_node") == "8"
    assert _opt(torchrun, "--rdzv_backend") == "c10d"
    assert _opt(torchrun, "--rdzv_endpoint") == "hgx03:29400"
    assert _opt(torchrun, "--rdzv_id") == "777"
    assert "--standalone" not in torchrun
    assert cmd[-len(ARGS) - 2:] == ["-m", ENTRY_MODULE, *ARGS]


def test_slurm_head_node_from_scontrol_when_available(monkeypatch, tmp_path):
    fake = tmp_path / "scontrol"
    fake.write_text("#!/bin/sh\necho headnode-a\necho headnode-b\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert slurm_hostnames("whatever[1-2]") == ["headnode-a", "headnode-b"]
    cmd = launch_command(ARGS, gpus_per_node=8, nnodes=2, env=_slurm_env(2, "whatever[1-2]"), python=PY)
    assert _opt(cmd, "--rdzv_endpoint") == "headnode-a:29500"


def _fake_scontrol(tmp_path: Path, job_line: str) -> None:
    fake = tmp_path / "scontrol"
    fake.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        if [ "$2" = show ] && [ "$3" = job ]; then echo '{job_line}'; exit 0; fi
        if [ "$1" = show ] && [ "$2" = hostnames ]; then echo gpu-a; echo gpu-b; exit 0; fi
        exit 1
        """))
    fake.chmod(0o755)


def test_slurm_allocation_from_scontrol_when_the_executor_dropped_the_variables(monkeypatch, tmp_path):
    """Inside a rule run by the SLURM executor only SLURM_JOB_ID is left; scontrol knows the rest."""
    _fake_scontrol(tmp_path, "JobId=881 JobName=x JobState=RUNNING NumNodes=2 NumCPUs=32 NodeList=gpu-[a-b] "
                             "Command=(null)")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert scontrol_allocation("881") == ("gpu-[a-b]", 2)
    assert scontrol_allocation("not-a-job") is None
    cmd = launch_command(ARGS, gpus_per_node=8, nnodes=2, env={"SLURM_JOB_ID": "881"}, port=29400, python=PY)
    assert cmd[0] == "srun" and _opt(cmd, "--rdzv_endpoint") == "gpu-a:29400" and _opt(cmd, "--nnodes") == "2"
    with pytest.raises(ConfigError, match="allocation 881 has 2 node"):
        launch_command(ARGS, gpus_per_node=8, nnodes=4, env={"SLURM_JOB_ID": "881"}, python=PY)


def test_slurm_allocation_unknown_to_scontrol_is_a_clear_error(monkeypatch, tmp_path):
    _fake_scontrol(tmp_path, "slurm_load_jobs error: Invalid job id specified")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert scontrol_allocation("881") is None
    with pytest.raises(ConfigError, match="no SLURM_JOB_NODELIST"):
        launch_command(ARGS, gpus_per_node=8, nnodes=2, env={"SLURM_JOB_ID": "881"}, python=PY)


def test_rendezvous_port_follows_the_job_id():
    assert rendezvous_port({}) == 29500
    assert rendezvous_port({"SLURM_JOB_ID": "1234567"}) == 29500 + 1234567 % 500
    assert 29500 <= rendezvous_port({"SLURM_JOB_ID": "999"}) < 30000


def test_more_nodes_than_allocated_is_an_error():
    with pytest.raises(ConfigError, match="1 node"):
        launch_command(ARGS, gpus_per_node=8, nnodes=2, env=_slurm_env(1, "n1"), python=PY)


def test_several_nodes_without_slurm_run_on_this_node_with_a_warning():
    with pytest.warns(RuntimeWarning, match="no SLURM allocation"):
        cmd = launch_command(ARGS, gpus_per_node=8, nnodes=2, env={}, python=PY)
    assert "--standalone" in cmd and "srun" not in cmd


@pytest.mark.parametrize("gpus,nodes", [(0, 1), (1, 0)])
def test_bad_counts(gpus, nodes):
    with pytest.raises(ConfigError):
        launch_command(ARGS, gpus_per_node=gpus, nnodes=nodes, env={}, python=PY)


def test_launch_env_cpu_and_gpu():
    env = launch_env({"PATH": "/bin"}, cuda_available=False, nproc=2, cpus=8)
    assert env["DS_ACCELERATOR"] == "cpu" and env["OMP_NUM_THREADS"] == "4" and env["PATH"] == "/bin"
    assert launch_env({}, cuda_available=False, nproc=4, cpus=2)["OMP_NUM_THREADS"] == "1"
    kept = launch_env({"OMP_NUM_THREADS": "3", "DS_ACCELERATOR": "xpu"}, cuda_available=False, nproc=2, cpus=8)
    assert kept["OMP_NUM_THREADS"] == "3" and kept["DS_ACCELERATOR"] == "xpu"
    gpu = launch_env({"PATH": "/bin"}, cuda_available=True, nproc=8)
    assert gpu == {"PATH": "/bin"}


# --------------------------------------------------------------------------- node lists

@pytest.mark.parametrize("nodelist,hosts", [
    ("node01", ["node01"]),
    ("node[01-03,07]", ["node01", "node02", "node03", "node07"]),
    ("a1,b[2-3]", ["a1", "b2", "b3"]),
    ("gpu-[1-2]-[3-4]", ["gpu-1-3", "gpu-1-4", "gpu-2-3", "gpu-2-4"]),
    ("n[8-11]", ["n8", "n9", "n10", "n11"]),
    ("x[098-101],y", ["x098", "x099", "x100", "x101", "y"]),
    ("c[1,3],d[5-6],e", ["c1", "c3", "d5", "d6", "e"]),
])
def test_expand_nodelist(nodelist, hosts):
    assert expand_nodelist(nodelist) == hosts


@pytest.mark.parametrize("bad", ["", "node[01-03", "node01]", "node[a-b]", "node[3-1]", "node[1,,2]"])
def test_expand_nodelist_rejects_bad_lists(bad):
    with pytest.raises(ConfigError):
        expand_nodelist(bad)


# --------------------------------------------------------------------------- running

def test_run_command_writes_the_log(tmp_path):
    log = tmp_path / "logs" / "train.log"
    run_command([sys.executable, "-c", "import sys; print('hello out'); print('hello err', file=sys.stderr)"],
                log_file=log)
    text = log.read_text()
    assert "hello out" in text and "hello err" in text
    assert text.startswith("$ ")  # the command line heads the log


def test_failing_command_raises_with_the_log_tail(tmp_path):
    log = tmp_path / "train.log"
    code = "import sys\nfor i in range(100): print('line', i)\nprint('CUDA out of memory'); sys.exit(3)"
    with pytest.raises(S1FlowError) as err:
        run_command([sys.executable, "-c", code], log_file=log)
    msg = str(err.value)
    assert "exit code 3" in msg and "CUDA out of memory" in msg and "line 99" in msg
    assert "line 5\n" not in msg  # only the tail
    assert str(log) in msg


def test_missing_program_is_a_clear_error(tmp_path):
    with pytest.raises(S1FlowError, match="cannot start"):
        run_command([str(tmp_path / "no-such-program")], log_file=tmp_path / "x.log")


def test_run_training_runs_the_launch_command(tmp_path):
    """The whole path with a stand-in interpreter that records what it was asked to run."""
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho \"ARGS: $*\"\necho \"OMP=$OMP_NUM_THREADS DS=$DS_ACCELERATOR\"\n")
    fake_python.chmod(0o755)
    log = tmp_path / "train.log"
    run_training(ARGS, gpus_per_node=2, nnodes=1, log_file=log, cuda_available=False, python=str(fake_python))
    text = log.read_text()
    assert f"ARGS: -m torch.distributed.run --standalone --nproc_per_node 2 -m {ENTRY_MODULE} --sft" in text
    assert "DS=cpu" in text
