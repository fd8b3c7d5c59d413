"""Typed settings of one config section, for the stages that read it (selection, generation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from s1flow.budget import Delimiters
from s1flow.config.loading import schema_default
from s1flow.select import BenchmarkSources, SelectionSettings

#: the generation keys that set the chat delimiters
DELIMITER_KEYS = ("think_start", "think_stop", "answer_start", "forced_end", "answer_stop")


def selection_settings(selection: Mapping[str, Any], seed: int) -> SelectionSettings:
    """SelectionSettings from the ``selection`` section (keys it lacks take the schema's defaults)."""
    def get(key: str) -> Any:
        return selection[key] if key in selection else schema_default(f"selection.{key}")

    return SelectionSettings(size=int(get("size")), seed=int(seed), algorithm=get("algorithm"),
                             uniform_fraction=float(get("uniform_fraction")),
                             benchmark=BenchmarkSources(**dict(get("benchmark") or {})))


def delimiters(generation: Mapping[str, Any]) -> Delimiters:
    """The chat delimiters from the ``generation`` section (unset keys: Qwen's, as s1 uses)."""
    return Delimiters(**{k: generation[k] for k in DELIMITER_KEYS if generation.get(k) is not None})
