"""The sweep rule (workflow/rules/evaluate.smk): one model on one eval set.

Each function reads its input files (validating columns), calls the library functions and
writes its outputs atomically, so a failed stage leaves no output that looks complete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from s1flow.config.settings import delimiters
from s1flow.config.sweeps import ModelSweep
from s1flow.determinism import use_deterministic
from s1flow.generate.sweep import sweep_to_file

log = logging.getLogger(__name__)
PathLike = str | os.PathLike


def run_sweep(model: str, benchmark: PathLike, out: PathLike, *, evaluation: Mapping[str, Any],
              generation: Mapping[str, Any], seed: int, cache_dir: PathLike, name: str | None = None,
              judge: Mapping[str, Any] | None = None, threads: int | None = None) -> pd.DataFrame:
    """The sweep rule: one model on one eval set. `evaluation` is the model's sweep
    (:meth:`s1flow.config.ModelSweep.to_params`), `generation` the validated ``generation`` section;
    a transformers sweep runs on `threads` intra-op threads with deterministic kernels
    (``generation.deterministic``)."""
    sweep = ModelSweep.from_params(evaluation)
    if generation["engine"] == "transformers":
        use_deterministic(bool(generation.get("deterministic", True)), threads=threads)
    return sweep_to_file(
        model, benchmark, out, plan=sweep.sweep_plan(seed), seed=seed, engine=generation["engine"],
        engine_options=dict(generation.get("engine_options") or {}), prompt_style=generation["prompt_style"],
        delimiters=delimiters(generation), answer_max_tokens=int(generation["answer_max_tokens"]),
        max_gen_toks=int(generation.get("max_gen_toks") or 0) or None, cache_dir=cache_dir,
        chunk_size=int(generation["chunk_size"]), benchmark_name=name,
        judge=dict(judge) if judge and sweep.grader == "judge" else None, compat=generation["compat"],
        dtype=generation["dtype"], graded=sweep.graded_text, choice_shuffle=generation["choice_shuffle"])
