"""The feature table: pool columns plus what selection needs.

Added columns (a public interface, see docs/file-formats.md): ``trace``, ``attempt``
(teacher thinking and answer, nullable), ``trace_tokens`` (tokens of the trace under the
configured tokenizer; null when there is no trace), ``domain`` (nullable),
``teacher_correct`` (nullable bool), ``correct_<alias>`` (nullable bool, one per
difficulty model) and ``quality_ok`` (s1's formatting filter).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tokenizers import Tokenizer

from s1flow.curate.pool import POOL_COLUMNS
from s1flow.curate.quality import quality_mask
from s1flow.curate.tokenizer import count_tokens
from s1flow.errors import InputFileError
from s1flow.io import require_columns, require_string_column, require_unique

log = logging.getLogger(__name__)

LABEL_TEXT_COLUMNS = ("trace", "attempt", "domain")
CORRECT_PREFIX = "correct_"
TRACE_FALLBACKS = ("none", "solution")
DOMAIN_FALLBACKS = ("none", "source", "cot_type")


def feature_columns(aliases: Sequence[str]) -> list[str]:
    """Column order of a feature table with the given difficulty-model aliases."""
    return [*POOL_COLUMNS, "trace", "attempt", "trace_tokens", "teacher_correct",
            *(f"{CORRECT_PREFIX}{a}" for a in aliases), "quality_ok"]


def correct_aliases(df: pd.DataFrame) -> list[str]:
    """Aliases of the ``correct_<alias>`` columns of a feature table, in column order."""
    return [c[len(CORRECT_PREFIX):] for c in df.columns if c.startswith(CORRECT_PREFIX)]


def validate_labels(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check a user label table keyed by ``qhash``; return it indexed by qhash.

    Allowed columns: trace, attempt, domain (strings), teacher_correct and correct_<alias>
    (booleans, null allowed); other columns are an error so a typo never passes silently.
    """
    require_string_column(df, "qhash", where)
    require_unique(df, "qhash", where)
    df = df.copy()
    for col in df.columns:
        if col == "qhash":
            continue
        if col in LABEL_TEXT_COLUMNS:
            require_string_column(df, col, where, nullable=True)
        elif col == "teacher_correct" or col.startswith(CORRECT_PREFIX):
            df[col] = _text_booleans(df[col])  # a CSV table holds the text True / False
            _require_bool(df, col, where)
        else:
            raise InputFileError(
                f"{where}: unexpected column '{col}'; a label table holds qhash plus any of "
                f"{list(LABEL_TEXT_COLUMNS)}, teacher_correct, correct_<alias>"
            )
    return df.set_index("qhash")


def _text_booleans(values: pd.Series) -> pd.Series:
    """'True' / 'False' (any case) as booleans, as a CSV file holds them; other values unchanged."""
    words = {"true": True, "false": False}
    return values.map(lambda v: words.get(v.strip().lower(), v) if isinstance(v, str) else v).astype(object)


def _require_bool(df: pd.DataFrame, col: str, where: str) -> None:
    for i, v in enumerate(df[col].tolist()):
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
            continue
        if not isinstance(v, bool | np.bool_):
            raise InputFileError(f"{where}: column '{col}' must be boolean; row {i} holds {v!r}")


def build_features(
    pool: pd.DataFrame,
    tokenizer: Tokenizer,
    *,
    labels: Sequence[tuple[str, pd.DataFrame]] = (),
    aliases: Sequence[str] = (),
    trace_fallback: str = "none",
    domain_fallback: str = "none",
    progress: bool = False,
) -> pd.DataFrame:
    """Join labels onto the pool, count trace tokens and apply the formatting filter.

    `labels` are (name, table) pairs keyed by qhash (teacher traces, user labels); a later
    table overrides an earlier one where it has a value. A label's domain overrides the
    source's own. `trace_fallback="solution"` counts the reference solution's tokens when
    a question has no trace (for pools without teacher traces); `domain_fallback` fills a
    missing domain from the ``source`` or ``cot_type`` column.
    """
    table = assemble_features(pool, labels=labels, aliases=aliases, domain_fallback=domain_fallback)
    return add_trace_tokens(table, tokenizer, trace_fallback=trace_fallback, progress=progress)


def assemble_features(
    pool: pd.DataFrame,
    *,
    labels: Sequence[tuple[str, pd.DataFrame]] = (),
    aliases: Sequence[str] = (),
    domain_fallback: str = "none",
) -> pd.DataFrame:
    """Every feature column except ``trace_tokens`` (left null): labels, domain, quality filter."""
    if domain_fallback not in DOMAIN_FALLBACKS:
        raise ValueError(f"domain_fallback must be one of {DOMAIN_FALLBACKS}, got {domain_fallback!r}")
    out = pool[POOL_COLUMNS].copy().reset_index(drop=True)
    merged: dict[str, pd.Series] = {}
    all_aliases = list(dict.fromkeys(aliases))
    for name, table in labels:
        table = validate_labels(table.reset_index(drop=True), name)
        unknown = int((~table.index.isin(out["qhash"])).sum())
        if unknown:
            log.info("%s: %d label rows have a qhash not in the pool; ignored", name, unknown)
        for col in table.columns:
            if col.startswith(CORRECT_PREFIX) and col[len(CORRECT_PREFIX):] not in all_aliases:
                all_aliases.append(col[len(CORRECT_PREFIX):])
            values = out["qhash"].map(table[col])
            merged[col] = values if col not in merged else values.where(values.notna(), merged[col])
    n = len(out)
    none = pd.Series([None] * n, dtype=object)
    out["trace"] = merged.get("trace", none).astype(object).where(lambda s: s.notna(), None)
    out["attempt"] = merged.get("attempt", none).astype(object).where(lambda s: s.notna(), None)
    if "domain" in merged:
        label_domain = merged["domain"].astype(object)
        out["domain"] = label_domain.where(label_domain.notna(), out["domain"])
    if domain_fallback != "none":
        out["domain"] = out["domain"].where(out["domain"].notna(), out[domain_fallback])
    out["domain"] = out["domain"].astype(object).where(out["domain"].notna(), None)
    out["trace_tokens"] = pd.array([pd.NA] * n, dtype="Int64")
    out["teacher_correct"] = _bool_column(merged.get("teacher_correct"), n)
    for alias in all_aliases:
        out[f"{CORRECT_PREFIX}{alias}"] = _bool_column(merged.get(f"{CORRECT_PREFIX}{alias}"), n)
    out["quality_ok"] = quality_mask(out["question"], out["source"])
    return out[feature_columns(all_aliases)]


def add_trace_tokens(features: pd.DataFrame, tokenizer: Tokenizer, *, trace_fallback: str = "none",
                     progress: bool = False) -> pd.DataFrame:
    """Fill ``trace_tokens`` with each trace's token count (or the solution's, with the fallback)."""
    if trace_fallback not in TRACE_FALLBACKS:
        raise ValueError(f"trace_fallback must be one of {TRACE_FALLBACKS}, got {trace_fallback!r}")
    out = features.copy()
    texts = out["trace"].tolist()
    if trace_fallback == "solution":
        texts = [t if isinstance(t, str) else s for t, s in zip(texts, out["solution"], strict=True)]
    counts = count_tokens(tokenizer, texts, progress=progress)
    tokens = pd.array(counts, dtype="Int64")
    tokens[counts < 0] = pd.NA
    out["trace_tokens"] = tokens
    return out


def _bool_column(values: pd.Series | None, n: int) -> pd.Series:
    if values is None:
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    return pd.Series(pd.array([None if (v is None or v is pd.NA or v != v) else bool(v) for v in values],
                              dtype="boolean"))


def validate_features(df: pd.DataFrame, where: str) -> None:
    """Check a feature table read from disk (e.g. one a user brings to ``s1flow select``)."""
    require_columns(df, ["qhash", "question", "source", "trace_tokens", "domain"], where)
    require_string_column(df, "question", where)
    require_string_column(df, "qhash", where)
    require_unique(df, "qhash", where)
    require_string_column(df, "source", where)
    require_string_column(df, "domain", where, nullable=True)
    tokens = df["trace_tokens"]
    if not (pd.api.types.is_integer_dtype(tokens) or pd.api.types.is_float_dtype(tokens)):
        raise InputFileError(f"{where}: column 'trace_tokens' must be integer, found dtype {tokens.dtype}")
    bad = tokens.notna() & ((tokens < 0) | (tokens != tokens.round()) | ~np.isfinite(tokens.astype(float)))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputFileError(f"{where}: column 'trace_tokens' must hold whole token counts >= 0 (or be empty); "
                             f"row {row} holds {float(tokens.iloc[row])!r}")
    for col in ["teacher_correct", "quality_ok", *(c for c in df.columns if c.startswith(CORRECT_PREFIX))]:
        if col in df.columns:
            _require_bool(df, col, where)
