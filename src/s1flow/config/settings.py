"""Typed settings of one config section, for the stages that read it (selection, generation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from s1flow.config.loading import schema_default
from s1flow.curate.select import BenchmarkSources, SelectionSettings
from s1flow.generate.budget import Delimiters
from s1flow.labels.tables import JudgeSettings

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


#: the ``judge`` keys that say how the judge is asked
JUDGE_KEYS = ("max_tokens", "temperature", "reply_tries", "reply_parsing")


def judge_settings(cfg: Mapping[str, Any] | None) -> JudgeSettings:
    """How the judge is asked, from config key ``judge`` (reply length, temperature, tries, parsing)."""
    cfg = cfg or {}
    return JudgeSettings(**{k: cfg[k] for k in JUDGE_KEYS if cfg.get(k) is not None})
