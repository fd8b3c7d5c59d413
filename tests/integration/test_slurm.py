"""The SLURM profile (profiles/slurm) against a real scheduler.

The cluster tests start a one-node SLURM cluster from Debian's packages with
``scripts/slurm_local.sh`` (root only; CI installs the packages with ``scripts/slurm_local.sh
install``). Without SLURM they are skipped, unless S1FLOW_REQUIRE_SLURM=1 makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO

from s1flow.train.launch import scontrol_job

PROFILE = REPO / "profiles" / "slurm"
SCRIPT = REPO / "scripts" / "slurm_local.sh"
PARTITION = "debug"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
#: bound on every snakemake run through the scheduler
RUN_TIMEOUT_S = 1200


def render_profile(monkeypatch, env: dict[str, str]) -> dict:
    """profiles/slurm/config.yaml as Snakemake reads it (a YTE template) under `env`."""
    import yte

    for key in ("S1FLOW_SLURM_ACCOUNT", "S1FLOW_SLURM_PARTITION", "S1FLOW_SLURM_GPU_PARTITION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with open(PROFILE / "config.yaml") as fh:
        return yte.process_yaml(fh, require_use_yte=True)


def test_profile_takes_account_and_partitions_from_the_environment(monkeypatch):
    bare = render_profile(monkeypatch, {})
    assert bare["executor"] == "slurm" and bare["slurm-keep-successful-logs"] is True
    assert "slurm_account" not in bare["default-resources"] and "slurm_partition" not in bare["default-resources"]
    for rule in ("train", "sweep", "difficulty_labels"):
        assert bare["set-resources"][rule]["tasks_per_gpu"] == 0
        assert "slurm_partition" not in bare["set-resources"][rule]
    site = render_profile(monkeypatch, {"S1FLOW_SLURM_ACCOUNT": "proj42", "S1FLOW_SLURM_PARTITION": "cpu",
                           "S1FLOW_SLURM_GPU_PARTITION": "h100"})
    assert site["default-resources"]["slurm_account"] == "proj42"
    assert site["default-resources"]["slurm_partition"] == "cpu"
    assert {site["set-resources"][r]["slurm_partition"] for r in ("train", "sweep", "difficulty_labels")} == {"h100"}
    # one partition for everything when no GPU partition is named
    one = render_profile(monkeypatch, {"S1FLOW_SLURM_PARTITION": "all"})
    assert one["set-resources"]["train"]["slurm_partition"] == "all"


# --------------------------------------------------------------------------- a real cluster

def _ours(conf: Path) -> bool:
    return not conf.exists() or "written by scripts/slurm_local.sh" in conf.read_text()


@pytest.fixture(scope="module")
def cluster():
    """A running one-node cluster: started here (and stopped afterwards) unless already up."""
    missing = [d for d in DAEMONS if not shutil.which(d)]
    why = None
    if missing:
        why = f"SLURM is not installed (missing {', '.join(missing)}; run scripts/slurm_local.sh install as root)"
    elif os.geteuid() != 0:
        why = "the local SLURM cluster needs root to start its daemons"
    elif not _ours(Path("/etc/slurm/slurm.conf")):
        why = "/etc/slurm/slurm.conf belongs to another cluster; not touching it"
    if why:
        if os.environ.get("S1FLOW_REQUIRE_SLURM") == "1":
            pytest.fail(f"S1FLOW_REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    up = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30).returncode == 0
    if not up:
        subprocess.run(["bash", str(SCRIPT), "config"], check=True, timeout=60)
        r = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    yield PARTITION
    if not up:
        subprocess.run(["bash", str(SCRIPT), "stop"], timeout=120)


def _slurm_snakemake(workdir: Path, configfile: Path, *args: str, env: dict[str, str] | None = None,
                     timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), "--workflow-profile", str(PROFILE),
           "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
           "--latency-wait", "10", *args]
    full_env = {**os.environ, "S1FLOW_SLURM_PARTITION": PARTITION, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=full_env, timeout=timeout)


def small_slurm_config(tmp_path: Path) -> Path:
    """tests/configs/e2e.yaml cut to one subset, one eval set and one setting."""
    cfg = yaml.safe_load((REPO / "tests" / "configs" / "e2e.yaml").read_text())
    cfg["selection"]["subsets"] = ["s1k"]
    cfg["eval_sets"] = [{"name": "synth_steps", "kind": "synthetic"}]
    cfg["evaluation"].update(caps=[16], waits=[0], rejection_caps=[], parallel_models=[],
                             ablation={"cap": 16, "waits": 0})
    cfg["training"]["protect_models"] = True
    cfg["conditional"].update(models=[], class_models=[])
    path = tmp_path / "slurm.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slurm
def test_a_target_of_the_default_dag_runs_through_sbatch(cluster, tmp_path):
    """Pool, tokenizer, base model, labels, s1K, SFT on 2 processes and a sweep, each a SLURM job."""
    work = tmp_path / "w"
    work.mkdir()
    target = "results/eval/s1k/synth_steps/samples.parquet"
    r = _slurm_snakemake(work, small_slurm_config(tmp_path), "--jobs", "2", target)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    samples = pd.read_parquet(work / target)
    assert len(samples) > 0 and samples["budget"].eq(16).all()

    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", out)
    assert len(job_ids) >= 8, out[-6000:]
    for job_id in job_ids:
        info = scontrol_job(job_id)
        assert info["JobState"] == "COMPLETED", info
        assert info["Partition"] == PARTITION
    # the SLURM logs are kept, one per job, under logs/slurm/rule_<name>/
    logs = {p.parent.parts[len((work / "logs" / "slurm").parts)] for p in (work / "logs" / "slurm").rglob("*.log")}
    for rule in ("build_pool", "build_model", "features", "select_subset", "sft_data", "train", "sweep"):
        assert f"rule_{rule}" in logs, sorted(logs)
    train_log = next((work / "logs" / "slurm" / "rule_train").rglob("*.log"))
    info = scontrol_job(train_log.stem)
    assert info["NumNodes"] == "1" and int(info["NumCPUs"]) == 2  # threads = processes_per_node
    weights = work / "results" / "models" / "sft" / "s1k" / "model.safetensors"
    assert weights.stat().st_mode & 0o222 == 0  # training.protect_models: write-protected
    # a second run through the scheduler has nothing to do
    again = _slurm_snakemake(work, small_slurm_config(tmp_path), "--jobs", "2", target, timeout=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slurm
def test_the_launcher_finds_its_allocation_inside_a_slurm_job(cluster, tmp_path):
    """The executor strips SLURM_* but the job id from a rule's environment; scontrol fills in the nodes."""
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""\
        import os
        from s1flow.errors import ConfigError
        from s1flow.train.launch import launch_command, scontrol_allocation
        env = {"SLURM_JOB_ID": os.environ["SLURM_JOB_ID"]}
        print("allocation", *scontrol_allocation(env["SLURM_JOB_ID"]))
        try:
            launch_command(["--x"], gpus_per_node=1, nnodes=2, env=env)
        except ConfigError as e:
            print("error", e)
        """))
    out = tmp_path / "probe.out"
    r = subprocess.run(["sbatch", "--parsable", "--wait", "-p", PARTITION, "-o", str(out), "-D", str(tmp_path),
                        "--wrap", f"{sys.executable} {probe}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + (out.read_text() if out.exists() else "")
    text = out.read_text()
    host = subprocess.run(["scontrol", "show", "hostnames"], capture_output=True, text=True).stdout.split()
    assert f"allocation {host[0] if host else socket.gethostname()} 1" in text, text
    assert "training.nodes = 2 but the SLURM allocation" in text and "has 1 node(s)" in text, text


@pytest.mark.slurm
@pytest.mark.parametrize("paper", ["s1-32b", "s1.1-32b"])
def test_the_paper_training_job_asks_slurm_for_two_nodes_of_eight_gpus(cluster, tmp_path, paper):
    """The profile's sbatch line for Qwen2.5-32B SFT, from the executor's verbose output.

    The one-node test cluster cannot hold the job, so SLURM refuses it after the line is logged.
    """
    work = tmp_path / "w"
    (work / "results" / "sft").mkdir(parents=True)
    # the training data already made, so the train jobs are the only ones to run
    pd.DataFrame({"text": ["x"]}).to_parquet(work / "results" / "sft" / "s1k.parquet")
    r = _slurm_snakemake(work, REPO / "config" / "paper" / f"{paper}.yaml", "--verbose", "--allowed-rules", "train",
                         "--jobs", "1", "results/models/sft/s1k/config.json",
                         env={"S1FLOW_SLURM_GPU_PARTITION": PARTITION}, timeout=300)
    out = r.stdout + r.stderr
    calls = re.findall(r"sbatch call: (sbatch .*)", out)
    assert calls, out[-6000:]
    call = calls[0]
    assert "--nodes=2" in call and "--gpus=16" in call and "--ntasks=2" in call, call
    assert "--ntasks-per-gpu" not in call, call
    assert "-t 720" in call and "--mem 900000" in call and f"-p {PARTITION}" in call, call
    assert r.returncode != 0  # no two-node, sixteen-GPU partition here
