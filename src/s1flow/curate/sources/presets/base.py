"""The :class:`Preset` type and the helpers the source mappers share.

Fetching (``_load``, ``_concat``, ``_single``), reading a table's subset (``_subsets``),
building the normalised table (``_emit``) and small cell and column helpers. The sources
themselves are in :mod:`.math_sources`, :mod:`.science_sources` and :mod:`.other_sources`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from s1flow.curate.pool import normalise_records
from s1flow.errors import InputFileError
from s1flow.io import require_string_column

#: sample sizes of s1's collect_data.py (read at call time by the sources' mappers)
NUMINAMATH_SAMPLE_SIZE = 500
SCIEVAL_SAMPLE_SIZE = 250
XWORD_SAMPLE_SIZE = 1000

LoadDataset = Callable[..., Any]
FetchFn = Callable[[LoadDataset], pd.DataFrame]
NormaliseFn = Callable[..., pd.DataFrame]
SelectFn = Callable[[pd.DataFrame], np.ndarray]

SUBSET = "_subset"
FIELDS_ATTR = "s1flow_subset_fields"


@dataclass(frozen=True)
class Preset:
    """One s1 source: its hub id, main cot_type, and how to fetch and normalise it.

    ``cot_type`` is the type of most rows; presets whose rows differ (OlympicArena, SciEval,
    JEEBench, AGIEval) set it per row in ``normalise`` as s1 did. ``select`` (sampled presets
    only) returns the positions to keep of the decontaminated, shuffled normalised table;
    ``select_s1``, where s1's own pick differs, is used with ``decontamination.sampling: s1``.
    """

    name: str
    hub_id: str
    cot_type: str
    description: str
    fetch: FetchFn
    normalise: NormaliseFn
    select: SelectFn | None = None
    select_s1: SelectFn | None = None

    def selection(self, sampling: str = "balanced") -> SelectFn | None:
        """The pick applied after decontamination: ``select``, or ``select_s1`` for sampling "s1"."""
        if sampling == "s1" and self.select_s1 is not None:
            return self.select_s1
        return self.select


# --------------------------------------------------------------------------- helpers


def _is_null(value: Any) -> bool:
    """True for None, NaN, an empty string, or an image dict with no bytes and no path."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, str):
        return value == ""
    if isinstance(value, Mapping):
        return all(_is_null(v) for v in value.values())
    return False


def _as_list(value: Any) -> list | None:
    """A list/tuple/ndarray cell as a list; None for any other cell (null or scalar)."""
    if isinstance(value, np.ndarray | list | tuple):
        return list(value)
    return None


def _first(value: Any) -> Any:
    """First element of a list-like cell (s1's ``x[0]``); a scalar is returned as is."""
    items = _as_list(value)
    if items is None:
        return None if _is_null(value) else value
    return items[0] if items else None


def _to_pandas(ds: Any) -> pd.DataFrame:
    return ds if isinstance(ds, pd.DataFrame) else ds.to_pandas()


def _load(
    load_dataset: LoadDataset, path: str, name: str | None = None, *, split: str, **kwargs: Any
) -> pd.DataFrame:
    return _to_pandas(load_dataset(path, name, split=split, **kwargs))


def _concat(parts: Iterable[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Concatenate (subset, frame) pairs, recording the subset in the ``_subset`` column.

    Each subset's own columns are kept in ``attrs[FIELDS_ATTR]`` so metadata can leave out
    the (null) columns that only other subsets have.
    """
    frames, fields = [], {}
    for subset, df in parts:
        fields[subset] = [str(c) for c in df.columns]
        df = df.copy()
        df[SUBSET] = subset
        frames.append(df)
    out = pd.concat(frames, ignore_index=True, sort=False)
    out.attrs[FIELDS_ATTR] = fields
    return out


def _single(hub_id: str, split: str, name: str | None = None) -> FetchFn:
    def fetch(load_dataset: LoadDataset) -> pd.DataFrame:
        return _load(load_dataset, hub_id, name, split=split)

    fetch.__doc__ = f"load_dataset({hub_id!r}, {name!r}, split={split!r})"
    return fetch


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sample_positions(n_rows: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of `size` rows (all rows when there are fewer)."""
    if n_rows <= size:
        return np.arange(n_rows)
    return np.sort(_rng(seed).choice(n_rows, size=size, replace=False))


def _file_stem(where: str) -> str:
    return Path(str(where)).name.split(".")[0].lower().replace("-", "_")


def _subsets(
    raw: pd.DataFrame,
    where: str,
    *,
    preset: str,
    known: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    contains: bool = False,
    default: str | None = None,
) -> list[str]:
    """The subset of each row: the ``_subset`` column, else one read from the file name, else `default`.

    The file name (last component of `where`) matches a known subset or alias exactly after
    lower-casing and mapping ``-`` to ``_`` (or, with `contains`, when it contains a known name).
    """
    if SUBSET in raw.columns:
        values = raw[SUBSET].tolist()
        bad = sorted({str(v) for v in values if _is_null(v) or str(v) not in known})
        if bad:
            raise InputFileError(
                f"{where}: unknown {preset} subset(s) {bad} in column '{SUBSET}'; known: {list(known)}"
            )
        return [str(v) for v in values]
    stem = _file_stem(where)
    lookup = {k.lower(): k for k in known}
    lookup.update({k.lower().replace("-", "_"): v for k, v in (aliases or {}).items()})
    found = lookup.get(stem)
    if found is None and contains:
        hits = [k for k in known if k.lower() in stem]
        found = max(hits, key=len) if hits else None
    if found is None:
        found = default
    if found is None:
        raise InputFileError(
            f"{where}: cannot tell which {preset} subset this table holds: add a '{SUBSET}' column "
            f"(one of {list(known)}) or name the file after the subset (e.g. {known[0]}.jsonl)"
        )
    return [found] * len(raw)


def _emit(
    df: pd.DataFrame,
    *,
    where: str,
    question: str | Sequence[Any],
    solution: str | Sequence[Any] | None = None,
    domain: str | Sequence[Any] | None = None,
    cot_type: str | Sequence[str],
    source: str | Sequence[str],
    drop: Iterable[str] = (),
    drop_per_row: Sequence[Iterable[str]] | None = None,
) -> pd.DataFrame:
    """Build the normalised table with :func:`s1flow.curate.pool.normalise_records`.

    `question` / `solution` / `domain` name a column of `df` or give one derived value per row
    (then the raw columns they came from are listed in `drop`, or per row in `drop_per_row`,
    so they stay out of metadata). `cot_type` / `source` are one value or one per row.
    ``_subset`` never goes into metadata, nor columns that only other configs have.
    """
    df = df.reset_index(drop=True)
    work = df.drop(columns=[c for c in (*drop, SUBSET) if c in df.columns])
    names: dict[str, str | None] = {}
    for key, value in (("question", question), ("solution", solution), ("domain", domain)):
        if value is None or isinstance(value, str):
            names[key] = value
        else:
            column = f"_{key}_"
            work[column] = list(value)
            names[key] = column
    out = normalise_records(
        work,
        where=where,
        question=str(names["question"]),
        solution=names["solution"],
        domain=names["domain"],
        cot_type="math",
        source="",
    )
    out["cot_type"] = cot_type if isinstance(cot_type, str) else list(cot_type)
    out["source"] = source if isinstance(source, str) else list(source)
    fields = (df.attrs.get(FIELDS_ATTR) or {}) if SUBSET in df.columns else {}
    if fields or drop_per_row is not None:
        subsets = df[SUBSET].tolist() if SUBSET in df.columns else [None] * len(df)
        extra = [set(d) for d in drop_per_row] if drop_per_row is not None else [set()] * len(df)
        out["metadata"] = [
            _trim_metadata(meta, own=fields.get(subset), drop=d)
            for meta, subset, d in zip(out["metadata"], subsets, extra, strict=True)
        ]
    return out


def _trim_metadata(meta: str, *, own: Sequence[str] | None, drop: set[str]) -> str:
    """Remove `drop` keys and, when `own` (the row's config columns) is known, keys not in it.

    :func:`_concat` records each config's columns in ``df.attrs``; without that record
    (e.g. a concatenated table read back from disk) metadata keeps the union of the columns.
    """
    if own is None and not drop:
        return meta
    fields = json.loads(meta)
    kept = {k: v for k, v in fields.items() if k not in drop and (own is None or k in own)}
    return json.dumps(kept, ensure_ascii=False)


def _keep(df: pd.DataFrame, mask: Sequence[bool] | pd.Series) -> pd.DataFrame:
    return df[np.asarray(mask, dtype=bool)].reset_index(drop=True)


def _column_or_none(df: pd.DataFrame, column: str) -> list[Any]:
    return df[column].tolist() if column in df.columns else [None] * len(df)


def _first_present(df: pd.DataFrame, *columns: str) -> str | None:
    return next((c for c in columns if c in df.columns), None)


def _stripped(df: pd.DataFrame, column: str, where: str) -> list[str]:
    require_string_column(df, column, where)
    return [v.strip() for v in df[column].tolist()]


def _with_suffix(base: str, values: Sequence[Any]) -> list[str]:
    return [base if _is_null(v) else f"{base}/{v}" for v in values]
