"""Shared fixtures: the repository root and the public data under ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """../shared/data next to the repository (or $S1FLOW_SHARED_DATA), if present."""
    env = os.environ.get("S1FLOW_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if (c / "SOURCES.md").is_file():
            return c.resolve()
    return None


def vllm_python() -> Path | None:
    """The vLLM venv's python ($S1FLOW_VLLM_PYTHON or .venv-vllm/bin/python, made by scripts/setup_vllm_cpu.sh)."""
    env = os.environ.get("S1FLOW_VLLM_PYTHON")
    p = Path(env) if env else REPO / ".venv-vllm" / "bin" / "python"
    return p if p.is_file() else None


@pytest.fixture
def shared_data() -> Path:
    """The public test data directory; the test is skipped when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("public data not found at ../shared/data (set S1FLOW_SHARED_DATA to its location)")
    return d


@pytest.fixture
def repo() -> Path:
    return REPO


def _tiny_corpus() -> list[str]:
    """Short texts in the shape of the embedded default's questions and traces."""
    from s1flow.nano import generate_pool

    pool = generate_pool(400, seed=7)
    return [t for col in ("question", "trace", "attempt") for t in pool[col].dropna().tolist()]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny Qwen2 model (head_dim 64) saved with a trained BPE tokenizer.

    The embedding is padded past the tokenizer's ids (as real Qwen checkpoints are), so the
    out-of-vocabulary guard is exercised.
    """
    from s1flow.curate.tokenizer import train_bpe_tokenizer
    from s1flow.nano.tiny_model import TinyModelSpec, init_tiny_model

    root = tmp_path_factory.mktemp("tiny")
    train_bpe_tokenizer(_tiny_corpus(), root / "tokenizer", vocab_size=400)
    return init_tiny_model(root / "tokenizer", root / "model", spec=TinyModelSpec(), seed=0)


@pytest.fixture(scope="session")
def talky_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with its end-of-thinking token emphasised: thinking ends on its own now and then."""
    import shutil

    from s1flow.nano.tiny_model import emphasise_tokens

    d = tmp_path_factory.mktemp("talky") / "model"
    shutil.copytree(tiny_model_dir, d)
    emphasise_tokens(d, ["<|im_start|>"], scale=5.0)
    return d


def setting_row(setting, **values) -> dict:
    """A samples.parquet row of `setting` (an s1flow.generate.setting kind): its label and typed columns, the
    given values, and one sample per question unless it is a vote or `samples_per_question` says."""
    n = values.pop("samples_per_question", getattr(setting, "samples", 1))
    return {"setting": setting.name, **setting.columns(), "num_wait": setting.num_wait, "samples_per_question": n,
            **values}
