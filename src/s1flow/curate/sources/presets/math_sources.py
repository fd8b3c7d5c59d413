"""The math sources: MATH, TheoremQA, NuminaMath, Omni-MATH, OlympiadBench, AIME and s1's own sets.

s1's own sets are the probability qualifier questions (``s1_prob``) and the brain-teasers
(``s1_teasers``). NuminaMath's sample size is read at call time from
:data:`s1flow.curate.sources.presets.base.NUMINAMATH_SAMPLE_SIZE`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from s1flow.curate.sources.presets import base  # the sample sizes, read at call time
from s1flow.curate.sources.presets.base import (
    SUBSET,
    LoadDataset,
    _column_or_none,
    _concat,
    _emit,
    _first,
    _first_present,
    _is_null,
    _keep,
    _load,
    _sample_positions,
    _stripped,
    _subsets,
    _with_suffix,
)
from s1flow.errors import InputFileError
from s1flow.io import require_columns

AIME_MAX_YEAR = 2022


# --------------------------------------------------------------------------- openaimath


def _normalise_openaimath(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """MATH train (hub: problem/solution/subject) or simple-evals' math_test.csv (Question/Answer)."""
    if "problem" in raw.columns or "Question" not in raw.columns:
        if "problem" not in raw.columns:
            raise InputFileError(
                f"{where}: missing column(s) ['problem'] "
                f"(or 'Question'/'Answer' of simple-evals' math_test.csv); "
                f"found {sorted(map(str, raw.columns))}"
            )
        require_columns(raw, ["problem", "solution"], where)
        question, solution = "problem", "solution"
    else:
        require_columns(raw, ["Question", "Answer"], where)
        question, solution = "Question", "Answer"
    subjects = _column_or_none(raw, "subject")
    return _emit(
        raw,
        where=where,
        question=question,
        solution=solution,
        domain="subject" if "subject" in raw.columns else None,
        cot_type="math",
        source=_with_suffix("qfq/openaimath", subjects),
    )


# --------------------------------------------------------------------------- TheoremQA


def _normalise_theoremqa(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """Rows without a Picture; source by Answer_type; domain = subfield (else field) when present."""
    require_columns(raw, ["Question", "Answer", "Picture"], where)
    df = _keep(raw, [_is_null(p) for p in raw["Picture"].tolist()])
    domain = _first_present(df, "subfield", "field")
    return _emit(
        df,
        where=where,
        question="Question",
        solution="Answer",
        domain=domain,
        cot_type="math",
        source=_with_suffix("TIGER-Lab/TheoremQA", _column_or_none(df, "Answer_type")),
    )


# --------------------------------------------------------------------------- NuminaMath


NUMINAMATH_FIXED = "numinamath_500"
NUMINAMATH_MAIN = "NuminaMath-CoT"


def _fetch_numinamath(load_dataset: LoadDataset) -> pd.DataFrame:
    """NuminaMath-CoT train plus the fixed question list ``simplescaling/numinamath_500`` (train)."""
    return _concat(
        [
            (NUMINAMATH_MAIN, _load(load_dataset, "AI-MO/NuminaMath-CoT", split="train")),
            (NUMINAMATH_FIXED, _load(load_dataset, "simplescaling/numinamath_500", split="train")),
        ]
    )


def _normalise_numinamath(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """The non-aops rows whose problem is in numinamath_500, then every aops_forum row (s1's order).

    Rows with ``_subset == "numinamath_500"`` only define the fixed list. Without such rows,
    a seeded sample of NUMINAMATH_SAMPLE_SIZE non-aops rows replaces the list.
    """
    require_columns(raw, ["problem"], where)
    df = raw.reset_index(drop=True)
    fixed: set[str] | None = None
    if SUBSET in df.columns:
        marked = (df[SUBSET] == NUMINAMATH_FIXED).to_numpy()
        if marked.any():
            fixed = set(df.loc[marked, "problem"].tolist())
        df = _keep(df, ~marked)
    require_columns(df, ["problem", "solution", "source"], where)
    is_aops = (df["source"] == "aops_forum").to_numpy()
    rest = np.flatnonzero(~is_aops)
    if fixed is not None:
        chosen = rest[[p in fixed for p in df["problem"].iloc[rest]]] if len(rest) else rest
    else:
        chosen = rest[_sample_positions(len(rest), base.NUMINAMATH_SAMPLE_SIZE, seed)]
    df = df.iloc[np.concatenate([chosen, np.flatnonzero(is_aops)])].reset_index(drop=True)
    return _emit(
        df,
        where=where,
        question="problem",
        solution="solution",
        cot_type="math",
        source=_with_suffix("AI-MO/NuminaMath-CoT", df["source"].tolist()),
    )


# --------------------------------------------------------------------------- Omni-MATH


def _normalise_omni_math(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All rows; domain = the first entry of Omni-MATH's ``domain`` list (the list stays in metadata)."""
    require_columns(raw, ["problem", "solution"], where)
    df = raw.reset_index(drop=True)
    domains = [_first(v) for v in _column_or_none(df, "domain")]
    return _emit(
        df,
        where=where,
        question="problem",
        solution="solution",
        domain=domains,
        cot_type="math",
        source="KbsdJames/Omni-MATH",
    )


# --------------------------------------------------------------------------- OlympiadBench

OLYMPIADBENCH_SUBSETS = (
    "OE_TO_maths_en_COMP",
    "OE_TO_physics_en_COMP",
    "TP_TO_maths_en_COMP",
    "TP_TO_physics_en_COMP",
)
_OLYMPIADBENCH_TYPES = {"OE": "Open-ended", "TP": "Theorem proof"}
_OLYMPIADBENCH_SUBJECTS = {"maths": "Math", "physics": "Physics"}


def _fetch_olympiadbench(load_dataset: LoadDataset) -> pd.DataFrame:
    return _concat(
        (subset, _load(load_dataset, "Hothan/OlympiadBench", subset, split="train"))
        for subset in OLYMPIADBENCH_SUBSETS
    )


def _olympiadbench_source(subset: str, question_type: Any, subject: Any) -> str:
    parts = subset.split("_")
    if _is_null(question_type):
        question_type = _OLYMPIADBENCH_TYPES.get(parts[0])
    if _is_null(subject):
        subject = _OLYMPIADBENCH_SUBJECTS.get(parts[2]) if len(parts) > 2 else None
    if question_type is None or subject is None:
        return f"Hothan/OlympiadBench/{subset}"
    return f"Hothan/OlympiadBench/{question_type}/{subject}"


def _normalise_olympiadbench(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All rows; solution = the first worked solution; source ``Hothan/OlympiadBench/<type>/<subject>``.

    type/subject come from the row's ``question_type`` / ``subject`` (hub) or from the subset
    name (local copies: ``_subset`` column, else a subset name in the file name, else
    ``OE_TO_maths_en_COMP``). domain = ``subfield``. s1 leaves ``context`` out of the question.
    """
    require_columns(raw, ["question", "solution"], where)
    df = raw.reset_index(drop=True)
    subsets = _subsets(
        df,
        where,
        preset="olympiadbench",
        known=OLYMPIADBENCH_SUBSETS,
        contains=True,
        default="OE_TO_maths_en_COMP",
    )
    sources = [
        _olympiadbench_source(s, qt, sj)
        for s, qt, sj in zip(
            subsets, _column_or_none(df, "question_type"), _column_or_none(df, "subject"), strict=True
        )
    ]
    return _emit(
        df,
        where=where,
        question="question",
        solution=[_first(s) for s in df["solution"]],
        domain="subfield" if "subfield" in df.columns else None,
        cot_type="math",
        source=sources,
        drop=["solution"],
    )


# --------------------------------------------------------------------------- AIME


def _aime_year(row_id: Any, year: Any) -> int | None:
    if not _is_null(row_id):
        match = re.match(r"\s*(\d{4})", str(row_id))
        if match:
            return int(match.group(1))
    return None if _is_null(year) else int(year)


def _normalise_aime(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """Years <= AIME_MAX_YEAR (from the ``ID`` prefix "1983-1", else ``Year``); solution = Answer."""
    require_columns(raw, ["Question", "Answer"], where)
    if "ID" not in raw.columns and "Year" not in raw.columns:
        require_columns(raw, ["ID"], where)
    years = [
        _aime_year(i, y)
        for i, y in zip(_column_or_none(raw, "ID"), _column_or_none(raw, "Year"), strict=True)
    ]
    df = _keep(raw, [y is not None and y <= AIME_MAX_YEAR for y in years])
    return _emit(
        df,
        where=where,
        question="Question",
        solution="Answer",
        cot_type="math",
        source="qq8933/AIME_1983_2024",
    )


# --------------------------------------------------------------------------- s1-prob, teasers


def _normalise_s1_prob(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All 182 probability qualifier questions (source ``qfq/stats_qual``)."""
    require_columns(raw, ["question", "solution"], where)
    return _emit(
        raw, where=where, question="question", solution="solution", cot_type="math", source="qfq/stats_qual"
    )


def _normalise_s1_teasers(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All brain-teasers; question stripped (source ``qfq/quant``)."""
    require_columns(raw, ["Question", "Answer"], where)
    return _emit(
        raw,
        where=where,
        question=_stripped(raw, "Question", where),
        solution="Answer",
        cot_type="math",
        source="qfq/quant",
        drop=["Question"],
    )
