"""`snakemake --sdm conda --conda-create-envs-only` in another directory, with a stand-in conda:
every environment of the run is created and gets s1flow from this repository."""

import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from fake_conda import install_fake_conda, pip_requirements, python_call, with_path

pytestmark = pytest.mark.integration


def test_snakemake_creates_every_env_with_s1flow_from_the_repository(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(REPO / "config" / "config.yaml", work / "config.yaml")
    env = with_path(install_fake_conda(tmp_path / "conda"))
    env.pop("S1FLOW_ROOT", None)
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                        "--configfile", str(work / "config.yaml"), "--sdm", "conda", "--conda-create-envs-only",
                        "--cores", "1"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    prefixes = sorted(p for p in (work / ".snakemake" / "conda").iterdir() if p.is_dir())
    for prefix in prefixes:
        copy = prefix.with_suffix(".yaml")  # the file conda read: Snakemake's copy of the env file
        assert pip_requirements(prefix) == yaml.safe_load(copy.read_text())["dependencies"][-1]["pip"]
        cwd, args = python_call(prefix)
        assert cwd == work
        assert args == ["-m", "pip", "install", "--no-deps", "--editable", str(REPO)]
    assert len(prefixes) == 4  # curate, generate, train, report (the nano run has no vLLM)
