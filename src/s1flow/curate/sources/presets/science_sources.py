"""The science and exam sources: OlympicArena, SciEval, JEEBench, AGIEval and GPQA.

SciEval is sampled after decontamination (:func:`_select_scieval`, :func:`_select_scieval_s1`);
its sample size is read at call time from :data:`s1flow.curate.sources.presets.base.SCIEVAL_SAMPLE_SIZE`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from s1flow.curate.sources.presets import base  # the sample sizes, read at call time
from s1flow.curate.sources.presets.base import (
    SUBSET,
    LoadDataset,
    _as_list,
    _column_or_none,
    _concat,
    _emit,
    _first,
    _first_present,
    _is_null,
    _keep,
    _load,
    _subsets,
)
from s1flow.errors import InputFileError
from s1flow.io import require_columns, require_string_column

# --------------------------------------------------------------------------- OlympicArena

OLYMPIC_ARENA_SUBJECTS = ("Math", "Physics", "Chemistry", "Biology", "Geography", "Astronomy", "CS")
OLYMPIC_ARENA_SPLITS = ("test", "val")
_OLYMPIC_ARENA_COT = {"Math": "math", "CS": "coding"}


def _fetch_olympic_arena(load_dataset: LoadDataset) -> pd.DataFrame:
    """All test splits, then all val splits, of the 7 subject configs (s1's order)."""
    return _concat(
        (subject, _load(load_dataset, "GAIR/OlympicArena", subject, split=split))
        for split in OLYMPIC_ARENA_SPLITS
        for subject in OLYMPIC_ARENA_SUBJECTS
    )


def _normalise_olympic_arena(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """English, text-only rows; cot_type math for Math, coding for CS, else science."""
    require_columns(raw, ["problem", "language", "modality"], where)
    if "subject" not in raw.columns and SUBSET not in raw.columns:
        require_columns(raw, ["subject"], where)
    df = _keep(raw, (raw["language"] == "EN") & (raw["modality"] == "text-only"))
    subjects = df["subject"].tolist() if "subject" in df.columns else df[SUBSET].tolist()
    return _emit(
        df,
        where=where,
        question="problem",
        solution="solution" if "solution" in df.columns else None,
        domain=subjects,
        cot_type=[_OLYMPIC_ARENA_COT.get(s, "science") for s in subjects],
        source=[f"GAIR/OlympicArena/{s}" for s in subjects],
    )


# --------------------------------------------------------------------------- SciEval

_SCIEVAL_COT = {
    "SocraticQA": "science",
    "reagent selection": "science",
    "MedQA": "health science",
    "PubMedQA": "health science",
}
_SCIEVAL_REWRITES = (
    ("\nOptimal solvent:", "\nWhat is the optimal solvent?"),
    ("\nOptimal ligand:", "\nWhat is the optimal ligand?"),
    ("\nOptimal reactant:", "\nWhat is the optimal reactant?"),
)


def _fetch_scieval(load_dataset: LoadDataset) -> pd.DataFrame:
    return _concat(
        (split, _load(load_dataset, "OpenDFM/SciEval", split=split)) for split in ("test", "validation")
    )


def _clean_scieval_question(text: str) -> str:
    text = text.split("\n\nAnswer:")[0]
    for old, new in _SCIEVAL_REWRITES:
        text = text.replace(old, new)
    return text


def _round_robin(queues: Sequence[Sequence[int]]) -> list[int]:
    out: list[int] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


def _balanced_positions(tasks: Sequence[str], topics: Sequence[str], size: int) -> list[int]:
    """Positions of `size` rows spread evenly over tasks and, within a task, over topics.

    Rows are taken in the given order within each (task, topic); the result is sorted, so
    the chosen rows keep that order.
    """
    groups: dict[str, dict[str, list[int]]] = {}
    for pos in range(len(tasks)):
        groups.setdefault(tasks[pos], {}).setdefault(topics[pos], []).append(pos)
    per_task = [
        _round_robin([by_topic[t] for t in sorted(by_topic)]) for _, by_topic in sorted(groups.items())
    ]
    return sorted(_round_robin(per_task)[:size])


def _select_scieval(df: pd.DataFrame) -> np.ndarray:
    """SCIEVAL_SAMPLE_SIZE normalised rows balanced over the task_name and topic in their metadata."""
    meta = [json.loads(m) for m in df["metadata"]]
    tasks = [str(m.get("task_name")) for m in meta]
    topics = ["" if _is_null(m.get("topic")) else str(m.get("topic")) for m in meta]
    return np.asarray(_balanced_positions(tasks, topics, base.SCIEVAL_SAMPLE_SIZE), dtype=np.int64)


def _scieval_key(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _select_scieval_s1(df: pd.DataFrame) -> np.ndarray:
    """s1's ``select_examples_scieval`` on the shuffled rows (its hand-kept questions aside).

    Each task name gets a quota of ceil(SCIEVAL_SAMPLE_SIZE / #tasks) and each topic value
    (null included) one of ceil(SocraticQA's quota / #topics). Walking the rows in order, a
    row is picked while its topic has quota left (which also spends SocraticQA's quota) and
    picked again while its task has quota left, so a row can appear twice (the final
    exact-duplicate pass keeps one); the walk stops once exactly SCIEVAL_SAMPLE_SIZE picks
    are made (it can step over that count and then run to the end).
    """
    size = base.SCIEVAL_SAMPLE_SIZE
    meta = [json.loads(m) for m in df["metadata"]]
    tasks = [_scieval_key(m.get("task_name")) for m in meta]
    topics = [_scieval_key(m.get("topic")) for m in meta]
    if not tasks:
        return np.zeros(0, dtype=np.int64)
    per_task = dict.fromkeys(set(tasks), math.ceil(size / len(set(tasks))))
    socratic = per_task.get("SocraticQA", 0)
    per_topic = dict.fromkeys(set(topics), math.ceil(socratic / len(set(topics))))
    picked: list[int] = []
    for pos, (task, topic) in enumerate(zip(tasks, topics, strict=True)):
        if per_topic[topic] > 0:
            picked.append(pos)
            per_topic[topic] -= 1
            if "SocraticQA" in per_task:
                per_task["SocraticQA"] -= 1
        if per_task[task] > 0:
            picked.append(pos)
            per_task[task] -= 1
        if len(picked) == size:
            break
    return np.asarray(picked, dtype=np.int64)


def _normalise_scieval(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """Every row with an answer (the pool stage samples them with :func:`_select_scieval`).

    The question loses its trailing "Answer:" prompt and the reagent-selection prompts become
    questions, as in s1; solution = the first answer.
    """
    require_columns(raw, ["question", "answer", "task_name", "category", "type"], where)
    require_string_column(raw, "question", where)
    df = raw.reset_index(drop=True)
    df = _keep(df, [not _is_null(_first(a)) for a in df["answer"]])
    tasks = [str(t) for t in df["task_name"]]
    return _emit(
        df,
        where=where,
        question=[_clean_scieval_question(q) for q in df["question"]],
        solution=[_first(a) for a in df["answer"]],
        domain="category",
        cot_type=[_SCIEVAL_COT.get(t, "science") for t in tasks],
        source=[
            f"OpenDFM/SciEval/{c}/{ty}/{t}"
            for c, ty, t in zip(df["category"], df["type"], tasks, strict=True)
        ],
        drop=["question", "answer"],
    )


# --------------------------------------------------------------------------- JEEBench

_JEEBENCH_COT = {"math": "math", "phy": "math", "chem": "science"}


def _normalise_jeebench(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All rows; solution = gold; math and phy -> cot_type math, chem -> science; domain = subject."""
    require_columns(raw, ["question", "gold", "subject"], where)
    subjects = [str(s) for s in raw["subject"]]
    unknown = sorted(set(subjects) - set(_JEEBENCH_COT))
    if unknown:
        raise InputFileError(
            f"{where}: unknown JEEBench subject(s) {unknown} in column 'subject'; "
            f"known: {list(_JEEBENCH_COT)}"
        )
    return _emit(
        raw,
        where=where,
        question="question",
        solution="gold",
        domain="subject",
        cot_type=[_JEEBENCH_COT[s] for s in subjects],
        source=[f"daman1209arora/jeebench/{s}" for s in subjects],
    )


# --------------------------------------------------------------------------- AGIEval

AGIEVAL_CONFIGS = (
    "sat_en",
    "sat_math",
    "lsat_ar",
    "lsat_lr",
    "lsat_rc",
    "logiqa",
    "aqua_rat",
    "math_agieval",
)
AGIEVAL_SPLITS = ("test", "few_shot")
_AGIEVAL_WITH_PASSAGE = ("sat_en", "sat_math", "lsat_ar", "lsat_lr", "lsat_rc", "logiqa")
_AGIEVAL_COT = {
    "sat_en": "english",
    "sat_math": "math",
    "lsat_ar": "english",
    "lsat_lr": "english",
    "lsat_rc": "english",
    "logiqa": "math",
    "aqua_rat": "math",
    "math_agieval": "math",
}
# AGIEval v1 file names (github ruixiangcui/AGIEval data/v1) -> baber/agieval config.
_AGIEVAL_FILE_ALIASES = {"logiqa_en": "logiqa", "aqua_rat": "aqua_rat", "math": "math_agieval"}


def _fetch_agieval(load_dataset: LoadDataset) -> pd.DataFrame:
    """The 8 configs, test then few_shot split of each (s1 concatenated both)."""
    return _concat(
        (config, _load(load_dataset, "baber/agieval", config, split=split))
        for config in AGIEVAL_CONFIGS
        for split in AGIEVAL_SPLITS
    )


def _other_field(other: Any, key: str) -> Any:
    return other.get(key) if isinstance(other, Mapping) else None


def _level(value: Any) -> int | None:
    if _is_null(value):
        return None
    match = re.search(r"\d+", str(value))
    return int(match.group()) if match else None


def _normalise_agieval(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """s1's AGIEval rules, per config (``_subset`` column or file name, see module docstring).

    sat_en, sat_math, lsat_*, logiqa: question = passage.strip() + question + "\\n" + options
    joined by newlines -- exactly s1's text, which puts no separator between passage and
    question (kept so qhash matches s1). aqua_rat and math_agieval: the question alone;
    math_agieval keeps level 5 only (``level`` column, or ``other.level`` in v1 files).
    solution = ``solution`` (hub) or ``other.solution`` (v1 files), else null; the answer key
    (label / answer) stays in metadata.
    """
    require_columns(raw, ["question"], where)
    require_string_column(raw, "question", where)
    df = raw.reset_index(drop=True)
    configs = _subsets(df, where, preset="agieval", known=AGIEVAL_CONFIGS, aliases=_AGIEVAL_FILE_ALIASES)
    others = _column_or_none(df, "other")
    if any(c in _AGIEVAL_WITH_PASSAGE for c in configs):
        require_columns(df, ["passage", "options"], where)
    levels = [_level(v) for v in _column_or_none(df, "level")]
    levels = [
        lv if lv is not None else _level(_other_field(o, "level"))
        for lv, o in zip(levels, others, strict=True)
    ]
    keep = [c != "math_agieval" or lv == 5 for c, lv in zip(configs, levels, strict=True)]
    df = _keep(df, keep)
    configs = [c for c, k in zip(configs, keep, strict=True) if k]
    others = [o for o, k in zip(others, keep, strict=True) if k]

    questions, drop = [], ["question"]
    passages = _column_or_none(df, "passage")
    options = _column_or_none(df, "options")
    for config, passage, question, opts in zip(configs, passages, df["question"], options, strict=True):
        if config in _AGIEVAL_WITH_PASSAGE:
            lead = "" if _is_null(passage) else str(passage).strip()
            lines = [str(o) for o in (_as_list(opts) or [])]
            questions.append(lead + question + "\n" + "\n".join(lines))
        else:
            questions.append(question)
    solutions = _column_or_none(df, "solution")
    solutions = [
        s if not _is_null(s) else _other_field(o, "solution") for s, o in zip(solutions, others, strict=True)
    ]
    if "solution" in df.columns:
        drop.append("solution")
    return _emit(
        df,
        where=where,
        question=questions,
        solution=solutions,
        cot_type=[_AGIEVAL_COT[c] for c in configs],
        source=[f"baber/agieval/{c}" for c in configs],
        drop=drop,
        drop_per_row=[("passage", "options") if c in _AGIEVAL_WITH_PASSAGE else () for c in configs],
    )


# --------------------------------------------------------------------------- GPQA


def _fetch_gpqa(load_dataset: LoadDataset) -> pd.DataFrame:
    """gpqa_extended plus gpqa_diamond (train splits); normalise drops diamond questions."""
    return _concat(
        (config, _load(load_dataset, "Idavidrein/gpqa", config, split="train"))
        for config in ("gpqa_extended", "gpqa_diamond")
    )


def _normalise_gpqa_extended(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """gpqa_extended rows whose Question is not in gpqa_diamond; solution = Explanation.

    With a ``_subset`` column, rows marked ``gpqa_diamond`` only define the exclusion list;
    without one, every row is taken as gpqa_extended. domain = Subdomain (else High-level domain).
    """
    require_columns(raw, ["Question", "Explanation"], where)
    df = raw.reset_index(drop=True)
    if SUBSET in df.columns:
        diamond = set(df.loc[df[SUBSET] == "gpqa_diamond", "Question"].tolist())
        df = _keep(
            df,
            [
                (s == "gpqa_extended") and (q not in diamond)
                for s, q in zip(df[SUBSET], df["Question"], strict=True)
            ],
        )
    return _emit(
        df,
        where=where,
        question="Question",
        solution="Explanation",
        domain=_first_present(df, "Subdomain", "High-level domain"),
        cot_type="science",
        source="Idavidrein/gpqa",
    )
