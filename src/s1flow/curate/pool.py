"""The pool table: one row per question, with s1's question hash as the key.

Columns (a public interface, see docs/file-formats.md): ``qhash``, ``question``,
``solution`` (nullable), ``cot_type``, ``source`` (s1's ``source_type``), ``metadata``
(JSON string of the source row's remaining fields; never evaluated), ``domain``
(nullable; the source's own subject label where it has one).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from s1flow.errors import InputFileError
from s1flow.io import require_columns, require_nonblank, require_string_column, require_unique

POOL_COLUMNS = ["qhash", "question", "solution", "cot_type", "source", "metadata", "domain"]
NORMALISED_COLUMNS = POOL_COLUMNS[1:]
COT_TYPES = ("math", "science", "coding", "crossword", "english", "health science")


def question_hash(question: str) -> str:
    """s1's ``question_hash``: sha256 of the UTF-8 question, first 16 hex characters."""
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:16]


def to_json_value(value: Any) -> Any:
    """Turn a cell of a source row into a JSON-serialisable value (numpy, NaN and bytes included)."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def metadata_json(row: Mapping[str, Any], exclude: Iterable[str] = ()) -> str:
    """Serialise the fields of `row` not in `exclude` as a JSON object string."""
    skip = set(exclude)
    return json.dumps(
        {str(k): to_json_value(v) for k, v in row.items() if k not in skip}, ensure_ascii=False
    )


def _text_or_none(value: Any) -> str | None:
    value = to_json_value(value)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def normalise_records(
    df: pd.DataFrame,
    *,
    where: str,
    question: str = "question",
    solution: str | None = None,
    domain: str | None = None,
    cot_type: str = "math",
    source: str,
) -> pd.DataFrame:
    """Map a source table to the normalised columns using the given field names.

    Fields not used for question/solution/domain go into ``metadata``. Raises
    InputFileError (naming `where` and the column) for a missing field, a null or
    non-string question.
    """
    require_string_column(df, question, where)
    used = [question]
    for field in (solution, domain):
        if field is not None:
            require_columns(df, [field], where)
            used.append(field)
    records = df.to_dict(orient="records")
    out = pd.DataFrame(
        {
            "question": df[question].astype(object).tolist(),
            "solution": [_text_or_none(r[solution]) for r in records] if solution else [None] * len(df),
            "cot_type": [cot_type] * len(df),
            "source": [source] * len(df),
            "metadata": [metadata_json(r, exclude=used) for r in records],
            "domain": [_text_or_none(r[domain]) for r in records] if domain else [None] * len(df),
        }
    )
    return out


def with_qhash(normalised: pd.DataFrame) -> pd.DataFrame:
    """Prepend the ``qhash`` column to a normalised table."""
    out = normalised.copy()
    out.insert(0, "qhash", [question_hash(q) for q in out["question"]])
    return out[POOL_COLUMNS]


def validate_normalised(df: pd.DataFrame, where: str) -> None:
    """Check a normalised source table: all columns present, questions non-null strings."""
    require_columns(df, NORMALISED_COLUMNS, where)
    require_string_column(df, "question", where)
    require_nonblank(df, "question", where)
    for col in ("solution", "domain"):
        require_string_column(df, col, where, nullable=True)
    for col in ("cot_type", "source", "metadata"):
        require_string_column(df, col, where)
    if len(df) == 0:
        raise InputFileError(f"{where}: the source produced no questions")


def validate_pool(df: pd.DataFrame, where: str) -> None:
    """Check a pool table read from disk has the pool columns with the right types."""
    require_columns(df, POOL_COLUMNS, where)
    validate_normalised(df[NORMALISED_COLUMNS], where)
    require_string_column(df, "qhash", where)
    require_unique(df, "qhash", where)
