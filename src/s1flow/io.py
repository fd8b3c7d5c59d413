"""Reading question tables in any supported format and writing parquet atomically.

Every stage reads its inputs through :func:`read_table` and validates the columns it
needs with :func:`require_columns`, so a bad file fails with a message that names the
file and the column.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from s1flow.errors import InputFileError

FORMATS = ("parquet", "jsonl", "json", "csv")


def _suffix_format(path: str | os.PathLike) -> str:
    """The format a suffix names (``.pq`` is parquet, ``.ndjson`` jsonl), whether or not s1flow reads it."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"pq": "parquet", "ndjson": "jsonl"}.get(suffix, suffix)


def detect_format(path: str | os.PathLike) -> str:
    """Return the table format of `path` from its suffix (parquet, jsonl, json or csv)."""
    fmt = _suffix_format(path)
    suffix = Path(path).suffix.lower().lstrip(".")
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
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory; expected a table file ({', '.join(FORMATS)})")
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
                            record = json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise InputFileError(f"{path}:{lineno}: invalid JSON line ({exc.msg})") from exc
                        if not isinstance(record, dict):
                            raise InputFileError(f"{path}:{lineno}: expected one JSON object (a record) per "
                                                 f"line, got {_json_kind(record)}")
                        records.append(record)
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


def _json_kind(value: object) -> str:
    """How a JSON value reads in an error message: 'an array', 'a number 3', ..."""
    names = {list: "an array", dict: "an object", str: "a string", bool: "a boolean", type(None): "null"}
    name = names.get(type(value), "a number")
    return name if isinstance(value, list | dict) or value is None else f"{name} {str(value)[:40]!r}"


def _records_of(data: object, path: Path) -> list:
    records = None
    if isinstance(data, list):
        records = data
    elif isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            records = lists[0]
    if records is None:
        raise InputFileError(f"{path}: expected a JSON list of records or an object with one list of records, "
                             f"got {_json_kind(data)}")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputFileError(f"{path}: expected a list of records (JSON objects); item {i} is "
                                 f"{_json_kind(record)}")
    return records


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


def require_nonblank(df: pd.DataFrame, column: str, where: str) -> None:
    """Raise InputFileError naming the first row whose text in `column` is empty or only whitespace."""
    blank = df[column].map(lambda v: isinstance(v, str) and not v.strip())
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0])
        raise InputFileError(f"{where}: column '{column}' is blank in row {row} (of {len(df)} rows)")


def require_unique(df: pd.DataFrame, column: str, where: str) -> None:
    """Raise InputFileError naming the first repeated value of `column` (a table with one row per key)."""
    repeated = df[column][df[column].duplicated()]
    if len(repeated):
        raise InputFileError(f"{where}: column '{column}' must be unique (one row per question), but "
                             f"{repeated.iloc[0]!r} appears more than once ({repeated.nunique()} repeated value(s))")


def _ancestor_dir(path: Path) -> Path:
    """The nearest existing ancestor of `path` (an error when it is not a directory)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputFileError(f"{path}: cannot write here: {parent} is a file, not a directory")
            return parent
    return Path(os.sep)


def check_output(out: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 formats: Sequence[str] | None = None, directory: bool = False) -> Path:
    """Check before any work that `out` can be written and is none of the command's `inputs`.

    An output that resolves to an input (the same file, also through a symlink or another
    spelling of the path) is refused: an input is never overwritten. `formats` lists the table
    formats the command writes (the suffix of `out` must name one); `directory` says `out` is
    an output directory. Raises InputFileError naming the path.
    """
    path = Path(out)
    for given in inputs:
        if given is None:
            continue
        src = Path(given)
        same = src.exists() and path.exists() and os.path.samefile(src, path)
        if same or path.resolve() == src.resolve():
            raise InputFileError(f"{out}: the output is the input file {given}; an input is never overwritten, "
                                 "write the output to another path")
    if directory:
        if path.exists() and not path.is_dir():
            raise InputFileError(f"{out}: the output directory is an existing file")
    elif path.is_dir():
        raise InputFileError(f"{out}: the output path is an existing directory; give a file name")
    elif formats is not None and _suffix_format(out) not in formats:
        suffixes = ", ".join(f".{f}" for f in formats)
        raise InputFileError(f"{out}: this command writes {' or '.join(formats)}; give the output one of the "
                             f"suffixes {suffixes}")
    parent = path if directory and path.is_dir() else _ancestor_dir(path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputFileError(f"{out}: cannot write here: no write permission in {parent}")
    return path


def honour_umask(directory: str | os.PathLike) -> None:
    """Give every file in `directory` the mode a plain ``open()`` gives under the umask.

    For libraries that write private (0600) temporary files and rename them into place, as
    safetensors does for model weights: collaborators on a shared filesystem can read the result.
    """
    umask = os.umask(0)
    os.umask(umask)
    for path in Path(directory).rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~umask)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InputFileError(f"{path}: cannot create its directory: {exc}") from exc


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary file next to `path` to write; renamed onto `path` when the block succeeds.

    The file is created with mode 0666 minus the umask, as ``open()`` would (collaborators on a
    shared filesystem can read the outputs when the umask lets them); on any failure it is
    removed, so nothing half-written ever sits at `path`.
    """
    path = Path(path)
    _make_parent(path)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, schema: pa.Schema | None = None) -> None:
    """Write `df` to `path` atomically (temp file + rename) so a crash never leaves a partial file."""
    table = pa.Table.from_pandas(df.reset_index(drop=True), schema=schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_json(data: Mapping | list, path: str | os.PathLike) -> None:
    """Write `data` as indented JSON atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=False)
        fh.write("\n")


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write `text` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write `data` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write `df` in the format given by the suffix of `path` (parquet, jsonl, json, csv), atomically."""
    fmt = detect_format(path)
    if fmt == "parquet":
        write_parquet(df, path)
        return
    with atomic_path(path) as tmp:
        if fmt == "jsonl":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        elif fmt == "json":
            df.to_json(tmp, orient="records", force_ascii=False, indent=1)
        else:
            df.to_csv(tmp, index=False)
