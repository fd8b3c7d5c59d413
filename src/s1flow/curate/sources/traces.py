"""Teacher traces from an existing dataset instead of a teacher API (``features.teacher: dataset``).

s1 released its teacher's traces: Gemini's for the whole 59K pool
(``simplescaling/data_ablation_full59K``) and, for s1K-1.1, DeepSeek-R1's for the 1000 s1K
questions (``simplescaling/s1K-1.1``). A ``features.teacher_dataset`` entry names such a
dataset on the hub (``dataset``, ``config``, ``split``) or a local copy (``path``) and its
columns, directly or through a ``preset``; :func:`load_teacher_traces` turns it into a label
table keyed by s1's ``qhash`` with ``trace`` and ``attempt``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.curate.pool import question_hash, to_json_value
from s1flow.curate.sources import LoadDataset, _hf_load_dataset
from s1flow.curate.sources.presets.base import _load
from s1flow.errors import ConfigError, InputFileError
from s1flow.io import read_table

KEY = "config key 'features.teacher_dataset'"

#: s1's released trace datasets: hub id, split and the columns that hold question, trace, attempt
TRACE_PRESETS: dict[str, dict[str, str]] = {
    "s1_59k": {"dataset": "simplescaling/data_ablation_full59K", "split": "train", "question_field": "question",
               "trace_field": "thinking_trajectories", "attempt_field": "attempt"},
    "s1k": {"dataset": "simplescaling/s1K", "split": "train", "question_field": "question",
            "trace_field": "thinking_trajectories", "attempt_field": "attempt"},
    "s1k_1.1": {"dataset": "simplescaling/s1K-1.1", "split": "train", "question_field": "question",
                "trace_field": "deepseek_thinking_trajectory", "attempt_field": "deepseek_attempt"},
}
SPEC_KEYS = {"preset", "dataset", "config", "split", "path", "question_field", "trace_field", "attempt_field"}


def resolve_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's settings overlaid by the entry's own; checked."""
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ConfigError(f"{KEY}: unknown key(s) {unknown}; allowed: {sorted(SPEC_KEYS)}")
    given = {k: v for k, v in spec.items() if v not in (None, "")}  # empty = not set
    preset = given.pop("preset", None)
    if preset is not None and preset not in TRACE_PRESETS:
        raise ConfigError(f"{KEY}.preset: unknown preset {preset!r}; known: {sorted(TRACE_PRESETS)}")
    resolved = {"split": "train", "question_field": "question", "trace_field": "trace", "attempt_field": "attempt",
                **(TRACE_PRESETS[preset] if preset else {}), **given}
    if resolved.get("path"):
        resolved.pop("dataset", None)  # a local copy of a preset's dataset
    elif not resolved.get("dataset"):
        raise ConfigError(f"{KEY}: give a hub 'dataset', a local 'path' or a 'preset' ({sorted(TRACE_PRESETS)})")
    return resolved


def _first_text(value: Any) -> str | None:
    """A trace cell as text: s1's trajectories are lists holding one string."""
    value = to_json_value(value)
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


def load_teacher_traces(spec: Mapping[str, Any], *, base_dir: str | Path = ".",
                        load_dataset: LoadDataset | None = None) -> pd.DataFrame:
    """The dataset's traces as a label table: ``qhash``, ``trace``, ``attempt`` (one row per question)."""
    s = resolve_spec(spec)
    if s.get("path"):
        path = Path(s["path"])
        raw = read_table(path if path.is_absolute() else Path(base_dir) / path)
        where = str(s["path"])
    else:
        raw = _load(load_dataset or _hf_load_dataset, s["dataset"], s.get("config"), split=s["split"])
        where = f"{s['dataset']} ({s['split']})"
    q, t, a = s["question_field"], s["trace_field"], s["attempt_field"]
    missing = [c for c in (q, t) if c not in raw.columns]
    if missing:
        raise InputFileError(f"{where}: no column(s) {missing} (features.teacher_dataset question_field/trace_field); "
                             f"columns: {sorted(map(str, raw.columns))}")
    bad = [i for i, v in enumerate(raw[q]) if not isinstance(v, str) or not v.strip()]
    if bad:
        raise InputFileError(f"{where}: column '{q}' has {len(bad)} empty or non-text question(s), "
                             f"first at row {bad[0]}")
    out = pd.DataFrame({"qhash": [question_hash(v) for v in raw[q]], "trace": [_first_text(v) for v in raw[t]]})
    if a in raw.columns:
        out["attempt"] = [_first_text(v) for v in raw[a]]
    out = out[out["trace"].notna()].drop_duplicates("qhash", keep="first").reset_index(drop=True)
    if out.empty:
        raise InputFileError(f"{where}: no row has a trace in column '{t}'")
    return out
