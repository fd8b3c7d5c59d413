"""Question sources: where pool questions come from (hub, local file, synthetic).

A source entry in the config (``sources:`` list) is a mapping with ``name`` (a unique
label used in reports) and ``kind``:

- ``hub``: ``preset`` names one of s1's 16 sources (see :mod:`s1flow.curate.sources.presets`),
  loaded with ``datasets.load_dataset`` and mapped/filtered as s1 did; or a generic
  ``dataset`` / ``config`` / ``split`` with ``fields``.
- ``file``: a local jsonl / json / csv / parquet ``path``, mapped either by a
  ``preset`` (the same mapping as the hub source, for a local copy) or by ``fields``.
- ``synthetic``: the questions made by the embedded generator (:mod:`s1flow.nano`).

Every loader returns the normalised columns of :data:`s1flow.curate.pool.NORMALISED_COLUMNS`.

:func:`pool_source` tells the pool stage how to treat a loaded source: the preset's sampling
(applied after decontamination) and ``decontaminate`` (false: appended as is, as s1 added
AIME_1983_2024).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.curate.decontaminate import PoolSource
from s1flow.curate.pool import NORMALISED_COLUMNS, normalise_records, validate_normalised
from s1flow.curate.sources import presets
from s1flow.errors import ConfigError
from s1flow.io import read_table

log = logging.getLogger(__name__)

LoadDataset = Callable[..., Any]


def _hf_load_dataset(*args: Any, **kwargs: Any) -> Any:
    import datasets

    return datasets.load_dataset(*args, **kwargs)


def _fields(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    fields = dict(spec.get("fields") or {})
    unknown = set(fields) - {"question", "solution", "domain"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)} under 'fields'; allowed: question, solution, domain"
        )
    return {
        "question": fields.get("question", "question"),
        "solution": fields.get("solution"),
        "domain": fields.get("domain"),
        "cot_type": spec.get("cot_type", "math"),
    }


def load_source(
    spec: Mapping[str, Any],
    *,
    base_dir: str | Path = ".",
    seed: int = 0,
    load_dataset: LoadDataset | None = None,
    synthetic_questions: str | Path | None = None,
) -> pd.DataFrame:
    """Load one configured source and return its normalised question table.

    `load_dataset` replaces ``datasets.load_dataset`` (tests point it at local files);
    `synthetic_questions` is the parquet written by the synthetic generator.
    """
    name = spec.get("name", "?")
    kind = spec.get("kind")
    where = f"config sources[{name}]"
    if kind == "file":
        if "path" not in spec:
            raise ConfigError(f"{where}: 'path' is required for kind 'file'")
        path = Path(base_dir) / spec["path"]
        raw = read_table(path, spec.get("format", "auto"))
        if spec.get("preset"):
            out = presets.get_preset(spec["preset"], where).normalise(raw, where=str(path), seed=seed)
        else:
            out = normalise_records(raw, where=str(path), source=spec.get("source") or name, **_fields(spec, where))
        where = str(path)
    elif kind == "hub":
        loader = load_dataset or _hf_load_dataset
        if spec.get("preset"):
            preset = presets.get_preset(spec["preset"], where)
            raw = preset.fetch(loader)
            out = preset.normalise(raw, where=f"hub:{preset.hub_id}", seed=seed)
        else:
            if "dataset" not in spec:
                raise ConfigError(f"{where}: kind 'hub' needs 'preset' or 'dataset'")
            ds = loader(spec["dataset"], spec.get("config"), split=spec.get("split", "train"))
            raw = ds.to_pandas()
            source = spec.get("source") or "/".join(x for x in (spec["dataset"], spec.get("config")) if x)
            out = normalise_records(raw, where=f"hub:{spec['dataset']}", source=source, **_fields(spec, where))
        where = f"hub source '{name}'"
    elif kind == "synthetic":
        if synthetic_questions is None:
            raise ConfigError(f"{where}: kind 'synthetic' needs the synthetic generator's output")
        path = Path(synthetic_questions)
        out = read_table(path)[NORMALISED_COLUMNS]
        where = str(path)
    else:
        raise ConfigError(f"{where}: unknown kind {kind!r}; expected 'hub', 'file' or 'synthetic'")
    blank = out["question"].map(lambda q: isinstance(q, str) and not q.strip())
    if blank.any():
        log.warning("%s: %d blank question(s) dropped (first at row %d)", where, int(blank.sum()),
                    int(blank.to_numpy().nonzero()[0][0]))
        out = out[~blank]
    limit = spec.get("limit")
    if limit is not None:
        out = out.head(int(limit))
    out = out.reset_index(drop=True)
    validate_normalised(out, where)
    return out


def pool_source(spec: Mapping[str, Any], table: pd.DataFrame, *, sampling: str = "balanced") -> PoolSource:
    """The pool stage's view of a loaded source: its preset's pick and the ``decontaminate`` flag.

    `sampling` is ``decontamination.sampling`` ("balanced" or "s1", see
    :meth:`s1flow.curate.sources.presets.Preset.selection`).
    """
    name = str(spec.get("name", "?"))
    where = f"config sources[{name}]"
    flag = spec.get("decontaminate", True)
    if not isinstance(flag, bool):
        raise ConfigError(f"{where}.decontaminate: expected true or false, got {flag!r}")
    select = presets.get_preset(spec["preset"], where).selection(sampling) if spec.get("preset") else None
    return PoolSource(name, table, select=select, decontaminate=flag)
