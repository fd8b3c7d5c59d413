"""File-level entry points of the model-computed label stages (workflow scripts call these).

Each writes one label table keyed by qhash (see :mod:`s1flow.labels`), atomically; the
feature stage merges the tables in the order the workflow lists them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from s1flow.errors import ConfigError
from s1flow.io import read_table, write_json, write_parquet
from s1flow.labels import (
    JudgeSettings,
    LabelResult,
    difficulty_labels,
    domain_labels,
    teacher_grade_labels,
    teacher_trace_labels,
)
from s1flow.pool import validate_pool

log = logging.getLogger(__name__)
PathLike = str | os.PathLike

JUDGE_KEYS = ("max_tokens", "temperature", "reply_tries", "reply_parsing")
CLIENT_KEYS = ("base_url", "model", "api_key_env", "timeout", "max_retries", "backoff", "max_backoff", "concurrency",
               "extra_body")


def client_from_config(cfg: Mapping[str, Any] | None, key: str):
    """An OpenAI-compatible client from a config section (``judge`` or ``features.teacher_api``)."""
    from s1flow.engines.http import OpenAIClient

    if not cfg or not cfg.get("base_url") or not cfg.get("model"):
        raise ConfigError(f"config key '{key}': base_url and model of the OpenAI-compatible endpoint are required")
    return OpenAIClient(**{k: cfg[k] for k in CLIENT_KEYS if cfg.get(k) is not None})


def judge_settings(cfg: Mapping[str, Any] | None) -> JudgeSettings:
    """How the judge is asked, from config key ``judge`` (reply length, temperature, tries, parsing)."""
    cfg = cfg or {}
    return JudgeSettings(**{k: cfg[k] for k in JUDGE_KEYS if cfg.get(k) is not None})


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
    from s1flow.engines import load_engine
    from s1flow.models import model_identity

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
    from s1flow.download import download_rubric
    from s1flow.errors import S1FlowError

    try:
        download_rubric(url, out)
    except S1FlowError as exc:
        raise type(exc)(f"config key 'features.msc_rubric_url': {exc}") from exc


def run_teacher_dataset(spec: Mapping[str, Any], out: PathLike) -> None:
    """``trace``/``attempt`` from an existing trace dataset (s1's released traces; ``features.teacher_dataset``)."""
    from s1flow.sources.traces import load_teacher_traces

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
