"""What one sweep setting is: five small kinds behind one interface, and their columns in samples.parquet.

- :class:`Forced` - budget forcing: a thinking cap, Wait extensions, a minimum (``cap=512``,
  ``cap=auto,wait=2``, ``cap=512,min=64``);
- :class:`Open` - the model's own response, nothing forced (``open:cap=512``);
- :class:`Conditional` - a stated budget (``tok=N``, ``steps=N``) or a class prompt (``class=long``)
  added to the question, alone or with budget forcing at ``cap`` (``tok=N,cap=B``);
- :class:`Rejection` - s1's rejection sampling at a cap (``rs:cap=B``);
- :class:`Vote` - the majority vote over N samples (``maj@N``), forced at a cap or open.

The budget forcer reads only the shared interface (:class:`Setting`'s attributes); the report
reads only the typed columns :meth:`Setting.columns` writes next to the ``setting`` label
(:data:`SETTING_COLUMNS`, documented in docs/file-formats.md) and never parses the label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s1flow.conditional import prompt_suffix
from s1flow.errors import ConfigError

#: the ``method`` column's values
METHODS = ("budget_forcing", "open", "conditional", "rejection_sampling", "majority_vote")
#: the typed columns describing a row's setting (besides ``setting``, ``budget`` and ``num_wait``)
SETTING_COLUMNS = ["method", "cap", "min_thinking", "condition", "stated_budget", "length_class", "forced"]


def _check_cap(cap: int | str) -> None:
    if isinstance(cap, bool) or (isinstance(cap, str) and cap != "auto"):
        raise ConfigError(f"budget cap must be a positive integer or 'auto', got {cap!r}")
    if isinstance(cap, int) and cap < 1:
        raise ConfigError(f"budget cap must be >= 1, got {cap}")


class Setting:
    """The interface every kind shares. `cap` is a thinking cap in tokens or ``"auto"``; `auto` marks a
    cap resolved from ``"auto"`` for one benchmark (its label and ``cap`` column still say auto).

    Kinds set what they use; the rest keeps these defaults."""

    cap: int | str
    auto: bool
    method: str = ""
    num_wait: int = 0
    min_thinking: int = 0
    ignore_str: str = "Wait"
    open: bool = False
    condition: str = ""  # "", "tokens", "steps" or "class" (s1flow.conditional)
    condition_value: int | str | None = None  # the stated budget, or "long" / "short"
    forced: bool = True  # whether reaching the cap forces the end of thinking

    def __post_init__(self) -> None:
        _check_cap(self.cap)

    @property
    def cap_label(self) -> str:
        return "auto" if self.auto else str(self.cap)

    @property
    def name(self) -> str:
        """The ``setting`` label of its rows."""
        raise NotImplementedError

    @property
    def suffix(self) -> str:
        """What the question is followed by in this setting's prompt ('' for unconditioned settings)."""
        return prompt_suffix(self.condition, self.condition_value) if self.condition else ""

    @property
    def markers(self) -> bool:
        """Whether the model writes countdown markers (token- and step-conditional models)."""
        return self.condition in ("tokens", "steps")

    def resolved(self, cap: int) -> Setting:
        """This setting with an ``auto`` cap replaced by its value for a benchmark."""
        if self.cap != "auto":
            return self
        return type(self)(**{**self.fields(), "cap": cap, "auto": True})

    def fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}  # type: ignore[attr-defined]

    def fingerprint(self) -> dict[str, Any]:
        """Everything that determines the setting's rows (for caches)."""
        return {"kind": type(self).__name__, **self.fields()}

    def columns(self) -> dict[str, Any]:
        """The typed columns of this setting's rows (:data:`SETTING_COLUMNS`); ``cap`` is None for auto."""
        stated = self.condition_value if self.condition in ("tokens", "steps") else None
        return {"method": self.method, "cap": None if self.auto or self.cap == "auto" else int(self.cap),
                "min_thinking": int(self.min_thinking), "condition": self.condition,
                "stated_budget": None if stated is None else int(stated),
                "length_class": str(self.condition_value) if self.condition == "class" else "",
                "forced": bool(self.forced)}


@dataclass(frozen=True, kw_only=True)
class Forced(Setting):
    """Budget forcing: thinking capped at `cap`, the first `num_wait` end attempts replaced by
    `ignore_str`, the end suppressed before `min_thinking` tokens."""

    cap: int | str = "auto"
    auto: bool = False
    num_wait: int = 0
    min_thinking: int = 0
    ignore_str: str = "Wait"
    method = "budget_forcing"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_wait < 0 or self.min_thinking < 0:
            raise ConfigError(f"num_wait and min_thinking must be >= 0 (got {self.num_wait}, {self.min_thinking})")

    @property
    def name(self) -> str:
        parts = [f"cap={self.cap_label}"]
        if self.num_wait:
            parts.append(f"wait={self.num_wait}")
        if self.min_thinking:
            parts.append(f"min={self.min_thinking}")
        if self.num_wait and self.ignore_str != "Wait":
            parts.append(f"ignore={self.ignore_str!r}")
        return ",".join(parts)


@dataclass(frozen=True, kw_only=True)
class Open(Setting):
    """The model's own response to the plain prompt, limited to `cap` + the answer budget."""

    cap: int | str = "auto"
    auto: bool = False
    method = "open"
    open = True
    forced = False

    @property
    def name(self) -> str:
        return f"open:cap={self.cap_label}"


@dataclass(frozen=True, kw_only=True)
class Conditional(Setting):
    """A sentence added to the question: a stated budget (`condition` ``tokens``/``steps``, `condition_value`
    N) or a class prompt (``class``, ``long``/``short``); `forced`: budget forcing at `cap`, else the cap
    is only a safety limit."""

    condition: str
    condition_value: int | str
    cap: int | str = "auto"
    auto: bool = False
    forced: bool = True
    method = "conditional"

    def __post_init__(self) -> None:
        super().__post_init__()
        prompt_suffix(self.condition, self.condition_value)  # validates the pair

    @property
    def name(self) -> str:
        head = {"tokens": "tok", "steps": "steps", "class": "class"}[self.condition]
        return f"{head}={self.condition_value}" + (f",cap={self.cap_label}" if self.forced else "")


@dataclass(frozen=True, kw_only=True)
class Rejection(Setting):
    """s1's rejection sampling: thinking resampled until it ends on its own within `cap`."""

    cap: int | str = "auto"
    auto: bool = False
    method = "rejection_sampling"

    @property
    def name(self) -> str:
        return f"rs:cap={self.cap}"


@dataclass(frozen=True, kw_only=True)
class Vote(Setting):
    """The majority vote over `samples` samples per question, each forced at `cap` (or, `open`, the
    model's own response)."""

    samples: int
    cap: int | str = "auto"
    auto: bool = False
    open: bool = False
    method = "majority_vote"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.samples < 1:
            raise ConfigError(f"a majority vote needs >= 1 samples, got {self.samples}")

    @property
    def forced(self) -> bool:  # type: ignore[override]
        return not self.open

    @property
    def name(self) -> str:
        return f"maj@{self.samples}"
