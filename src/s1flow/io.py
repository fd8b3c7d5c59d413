"""Reading question tables in any supported format and writing parquet atomically.

Every stage reads its inputs through :func:`read_table` and validates the columns it
needs with :func:`require_columns`, so a bad file fails with a message that names the
file and the column.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from s1flow.errors import InputFileError

FORMATS = ("parquet", "jsonl", "json", "csv")


def detect_format(path: str | os.PathLike) -> str:
    """Return the table format of `path` from its suffix (parquet, jsonl, json or csv)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    aliases = {"pq": "parquet", "ndjson": "jsonl"}
    fmt = aliases.get(suffix, suffix)
    if fmt not in FORMATS:
        raise InputFileError(f"{path}: cannot tell the table format from suffix '.{suffix}'; expected one of {FORMATS}")
    return fmt


def read_table(path: str | os.PathLike, fmt: str = "auto", *, allow_empty: bool = False) -> pd.DataFrame:
    """Read a parquet / jsonl / json / csv table; raise InputFileError naming the file on failure.

    A json file may hold a list of records or an object with one list-valued key
    (e.g. ``{"data": [...]}``). Empty tables are an error (an empty source is never
    what a user meant) unless `allow_empty` (a stage's own output, e.g. an empty subset).
    """
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise InputFileError(f"{path}: unknown format '{fmt}'; expected one of {FORMATS}")
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        if fmt == "parquet":
            df = pq.read_table(path).to_pandas()
        elif fmt == "csv":
            df = pd.read_csv(path, dtype=object, keep_default_na=False, na_values=[""])
            unnamed = [c for c in df.columns if str(c).startswith("Unnamed: ")]
            df = df.drop(columns=unnamed)
        elif fmt == "jsonl":
            records = []
            with path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            records.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise InputFileError(f"{path}:{lineno}: invalid JSON line ({exc.msg})") from exc
            df = pd.DataFrame.from_records(records)
        else:
            with path.open(encoding="utf-8") as fh:
                data = json.load(fh)
            df = pd.DataFrame.from_records(_records_of(data, path))
    except InputFileError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise InputFileError(f"{path}: cannot read as {fmt}: {exc}") from exc
    if len(df) == 0 and not allow_empty:
        raise InputFileError(f"{path}: the table is empty (0 rows)")
    return df


def _records_of(data: object, path: Path) -> list:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    raise InputFileError(f"{path}: expected a JSON list of records or an object with one list of records")


def require_columns(df: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise InputFileError if any of `columns` is missing from `df` (`where` names the file)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputFileError(f"{where}: missing column(s) {missing}; found {sorted(map(str, df.columns))}")


def require_string_column(df: pd.DataFrame, column: str, where: str, *, nullable: bool = False) -> None:
    """Raise InputFileError naming the first row whose `column` is null (unless nullable) or not a string."""
    require_columns(df, [column], where)
    values = df[column].tolist()
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and value != value):
            if nullable:
                continue
            raise InputFileError(f"{where}: column '{column}' is null in row {i} (of {len(values)} rows)")
        if not isinstance(value, str):
            raise InputFileError(
                f"{where}: column '{column}' must hold strings; row {i} (of {len(values)} rows) "
                f"holds {type(value).__name__} {str(value)[:60]!r}"
            )


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, schema: pa.Schema | None = None) -> None:
    """Write `df` to `path` atomically (temp file + rename) so a crash never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df.reset_index(drop=True), schema=schema, preserve_index=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(data: Mapping | list, path: str | os.PathLike) -> None:
    """Write `data` as indented JSON atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write `df` in the format given by the suffix of `path` (parquet, jsonl, json, csv), atomically."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "parquet":
        write_parquet(df, path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if fmt == "jsonl":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        elif fmt == "json":
            df.to_json(tmp, orient="records", force_ascii=False, indent=1)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
