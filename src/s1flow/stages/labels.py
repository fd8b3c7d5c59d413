"""The label rules (workflow/rules/labels.smk): the tiny models, then the label tables models compute.

Each writes one label table keyed by qhash (see :mod:`s1flow.labels.tables`), atomically; the
feature stage merges the tables in the order the workflow lists them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.config.settings import judge_settings
from s1flow.curate.pool import validate_pool
from s1flow.curate.sources.traces import load_teacher_traces
from s1flow.download import download_rubric
from s1flow.engines import load_engine
from s1flow.engines.http import client_from_config
from s1flow.errors import ConfigError, S1FlowError
from s1flow.io import read_table, write_json, write_parquet
from s1flow.labels.tables import (
    LabelResult,
    difficulty_labels,
    domain_labels,
    teacher_grade_labels,
    teacher_trace_labels,
)
from s1flow.models import model_identity
from s1flow.nano.pretrain import direct_answer_rows, worked_solution_rows
from s1flow.nano.tiny_model import TinyModelSpec, init_tiny_model, reuse_or_init_tiny_model
from s1flow.stages.train import run_train, write_sft_data

log = logging.getLogger(__name__)
PathLike = str | os.PathLike

def _write(result: LabelResult, out: PathLike, report: PathLike | None) -> None:
    write_parquet(result.table, out)
    if report is not None:
        write_json(result.report, report)


def _pool(pool_file: PathLike) -> pd.DataFrame:
    pool = read_table(pool_file)
    validate_pool(pool, str(pool_file))
    return pool


def run_difficulty(pool_file: PathLike, out: PathLike, *, spec: Mapping[str, Any], seed: int, grader: str,
                   judge: Mapping[str, Any] | None, cache_dir: PathLike, report: PathLike | None = None) -> None:
    """``correct_<alias>`` of one difficulty model (config item of ``difficulty.models``), and its report."""
    pool = _pool(pool_file)
    options = dict(spec.get("engine_options") or {})
    engine = load_engine(spec.get("engine", "transformers"), spec["model"], **options)
    client = client_from_config(judge, "judge") if grader == "judge" else None
    labels = difficulty_labels(pool, spec["alias"], engine=engine, tokenizer=engine.tokenizer,
                               max_tokens=int(spec.get("max_tokens", 512)),
                               temperature=float(spec.get("temperature", 0.0)), seed=seed, grader=grader,
                               client=client, cache_dir=cache_dir, model_id=model_identity(spec["model"]),
                               judge=judge_settings(judge))
    _write(labels, out, report)


def merged_attempts(pool: pd.DataFrame, label_files: Sequence[PathLike]) -> pd.DataFrame:
    """Pool rows with the teacher ``trace``/``attempt`` from label tables (later files win)."""
    rows = pool[["qhash", "question", "solution"]].copy()
    rows["trace"] = None
    rows["attempt"] = None
    rows = rows.set_index("qhash")
    for f in label_files:
        t = read_table(f)
        for col in ("trace", "attempt"):
            if col in t.columns:
                vals = t.dropna(subset=[col]).drop_duplicates("qhash", keep="last").set_index("qhash")[col]
                vals = vals[vals.index.isin(rows.index)]
                rows.loc[vals.index, col] = vals
    return rows.reset_index()


def run_teacher_grades(pool_file: PathLike, label_files: Sequence[PathLike], out: PathLike, *, grader: str,
                       judge: Mapping[str, Any] | None, cache_dir: PathLike, report: PathLike | None = None) -> None:
    """``teacher_correct``: the teacher's attempts (from the label tables) graded by rule or judge."""
    rows = merged_attempts(_pool(pool_file), label_files)
    client = client_from_config(judge, "judge") if grader == "judge" else None
    _write(teacher_grade_labels(rows, grader=grader, client=client, cache_dir=cache_dir,
                                judge=judge_settings(judge)), out, report)


def run_domains(pool_file: PathLike, out: PathLike, *, rubric: PathLike, judge: Mapping[str, Any] | None,
                cache_dir: PathLike, report: PathLike | None = None) -> None:
    """``domain``: the MSC code an LLM judge assigns to each question, and the stage report."""
    client = client_from_config(judge, "judge")
    _write(domain_labels(_pool(pool_file), client=client, rubric_file=rubric, cache_dir=cache_dir,
                         judge=judge_settings(judge)), out, report)


def run_download_rubric(url: str, out: PathLike) -> None:
    """s1's MSC rubric (config key ``features.msc_rubric_url``) saved as ``features.msc_rubric``."""
    try:
        download_rubric(url, out)
    except S1FlowError as exc:
        raise type(exc)(f"config key 'features.msc_rubric_url': {exc}") from exc


def run_teacher_dataset(spec: Mapping[str, Any], out: PathLike) -> None:
    """``trace``/``attempt`` from an existing trace dataset (s1's released traces; ``features.teacher_dataset``)."""

    labels = load_teacher_traces(spec)
    log.info("teacher dataset: %d questions with a trace", len(labels))
    write_parquet(labels, out)


def run_teacher_traces(pool_file: PathLike, label_files: Sequence[PathLike], out: PathLike, *,
                       teacher: Mapping[str, Any] | None, cache_dir: PathLike) -> None:
    """``trace``/``attempt`` from a teacher endpoint for questions no label table covers."""
    pool = _pool(pool_file)
    rows = merged_attempts(pool, label_files)
    have = rows.loc[rows["trace"].notna(), "qhash"].tolist()
    client = client_from_config(teacher, "features.teacher_api")
    labels = teacher_trace_labels(pool, have, client=client, cache_dir=cache_dir,
                                  max_tokens=(teacher or {}).get("max_tokens"),
                                  temperature=float((teacher or {}).get("temperature", 0.0)))
    write_parquet(labels, out)


def run_build_model(tokenizer_dir: PathLike, out_dir: PathLike, *, spec: Mapping[str, Any], seed: int,
                    pool_file: PathLike | None = None, work_dir: PathLike, log_file: PathLike) -> None:
    """Random-init a tiny Qwen2 model; with ``spec.pretrain``, train it on direct answers (no thinking).

    Pretraining resumes: the initial model in ``work_dir/init`` is made once, and the
    trainer's checkpoints in ``work_dir/checkpoints`` (data order, optimizer and RNG states)
    let a killed run continue to the same weights an uninterrupted run ends with.
    """
    spec = dict(spec)
    pretrain = spec.pop("pretrain", None)
    known = set(TinyModelSpec.__dataclass_fields__)
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigError(f"config key 'models': unknown model settings {unknown}; "
                          f"known: {sorted(known) + ['pretrain']}")
    work = Path(work_dir)
    if not pretrain:
        init_tiny_model(tokenizer_dir, out_dir, spec=TinyModelSpec(**spec), seed=seed)
        return
    # a rerun after a kill keeps the initial weights its checkpoints were trained from
    init_dir = reuse_or_init_tiny_model(tokenizer_dir, work / "init", spec=TinyModelSpec(**spec), seed=seed)
    pretrain = dict(pretrain)
    limit = pretrain.pop("questions", None)
    rows = direct_answer_rows(pool_file, limit=limit, seed=seed, data=pretrain.pop("data", "synthetic"))
    n_worked = int(pretrain.pop("worked_questions", 0))
    domains = pretrain.pop("worked_domains", ["iteration"])
    domains = dict(domains) if isinstance(domains, Mapping) else list(domains)
    prompt = pretrain.pop("worked_prompt", "Show your work.")
    phrasing = str(pretrain.pop("worked_phrasing", "pool"))
    fmt = str(pretrain.pop("worked_format", "plain"))
    unasked = float(pretrain.pop("worked_unasked", 0.0))
    if n_worked:
        worked = worked_solution_rows(n_worked, domains=domains, seed=seed, prompt=prompt, phrasing=phrasing,
                                      fmt=fmt, unasked=unasked)
        rows = pd.concat([rows, worked], ignore_index=True).sample(frac=1.0, random_state=seed)
    block = int(pretrain.get("block_size", 256))
    write_sft_data(rows, init_dir, work / "direct.parquet", work / "direct.json", block_size=block, direct=True,
                   source="direct answers and worked solutions" if n_worked else "direct answers")
    # token-mean loss: this is the base model's pretraining (worked solutions next to short direct
    # answers), tuned with it; s1's per-sequence mean is for the SFT runs. The loss is logged every
    # 25 steps, not at each of its thousands of tiny steps (docs/performance.md)
    training = {"deepspeed": False, "processes_per_node": 1, "gradient_checkpointing": False,
                "global_batch_size": 16, "micro_batch_size": 16, "epochs": 3, "learning_rate": 1e-3,
                "block_size": block, "warmup_ratio": 0.05, "seed": seed, "loss_normalization": "token",
                "logging_steps": 25, **pretrain}
    run_train(work / "direct.parquet", init_dir, out_dir, work / "checkpoints", training=training, log_file=log_file)
