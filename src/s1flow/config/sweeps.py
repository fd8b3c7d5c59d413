"""What one model runs in its sweep, from the ``evaluation`` config section or the command line.

:class:`ModelSweep` is the one place a sweep's settings are decided: the run plan derives one per
evaluated model (by its role: scaling, open, length-controlled or the ablation setting alone),
the workflow's sweep rule carries it as a plain mapping (:meth:`ModelSweep.to_params`, so a change
to one model's settings reruns only that model's sweeps), and ``s1flow sweep`` builds one from
its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s1flow.errors import ConfigError
from s1flow.generate.budget import Sampling
from s1flow.generate.setting import Conditional, Forced, Open, Rejection, Setting, Vote
from s1flow.generate.sweep import SweepPlan, settings_grid

ROLES = ("scaling", "open", "control", "ablation")


@dataclass(frozen=True)
class ConditionalSpec:
    """A conditional setting: a stated budget (``tokens``/``steps``) or a class prompt (``class``)."""

    condition: str
    value: int | str
    cap: int | str
    forced: bool

    def setting(self) -> Conditional:
        return Conditional(cap=self.cap, condition=self.condition, condition_value=self.value, forced=self.forced)

    def to_params(self) -> dict[str, Any]:
        return {"condition": self.condition, "condition_value": self.value, "cap": self.cap, "forced": self.forced}

    @classmethod
    def from_params(cls, spec: Mapping[str, Any]) -> ConditionalSpec:
        unknown = sorted(set(spec) - {"condition", "condition_value", "cap", "forced"})
        if unknown or "condition" not in spec:
            raise ConfigError(f"conditional setting {dict(spec)}: expected the keys condition, condition_value, "
                              "cap, forced")
        return cls(spec["condition"], spec.get("condition_value"), spec.get("cap", "auto"),
                   bool(spec.get("forced", True)))


@dataclass(frozen=True)
class ModelSweep:
    """Every setting one model runs on an eval set, and how its samples are drawn and graded.

    `caps` x `waits` is the budget-forcing grid (Waits above 0 only at `wait_caps`, empty: every
    cap); `open` runs each cap as the model's own response; `conditional` adds stated-budget and
    class-prompt settings (with them, no caps means no grid); `rejection_caps` and
    `majority_samples` add rejection sampling and a majority vote. Every field is required: the
    defaults live in ``config/schema.yaml`` (:meth:`from_evaluation` on a validated section)."""

    caps: tuple[int | str, ...]
    waits: tuple[int, ...]
    wait_caps: tuple[int | str, ...]
    min_thinking: int
    ignore_str: str
    open: bool
    temperature: float
    samples: int
    rejection_caps: tuple[int | str, ...]
    rejection_max_tries: int
    rejection_temperature: float
    majority_samples: int
    majority_cap: int | str
    majority_temperature: float
    conditional: tuple[ConditionalSpec, ...]
    grader: str
    graded_text: str

    @classmethod
    def from_evaluation(cls, evaluation: Mapping[str, Any], *, role: str, parallel: bool = False,
                        conditional: Sequence[ConditionalSpec] = ()) -> ModelSweep:
        """A model's sweep from a validated ``evaluation`` section and the model's role: `scaling` runs the
        caps x waits grid and rejection sampling, `open` the ablation cap as its own response, `control`
        its conditional settings alone, `ablation` the ablation setting alone; `parallel` adds the
        majority vote."""
        if role not in ROLES:
            raise ValueError(f"unknown sweep role {role!r}; expected one of {ROLES}")
        ablation = evaluation["ablation"]
        common: dict[str, Any] = dict(
            min_thinking=int(evaluation["min_thinking"]), ignore_str=evaluation["ignore_str"],
            temperature=float(evaluation["temperature"]), samples=int(evaluation["samples"]),
            rejection_max_tries=int(evaluation["rejection_max_tries"]),
            rejection_temperature=float(evaluation["sampling_temperature"]),
            majority_samples=int(evaluation["majority_samples"]) if parallel else 0,
            majority_cap=evaluation["majority_cap"],
            majority_temperature=float(evaluation["sampling_temperature"]), conditional=tuple(conditional),
            grader=evaluation["grader"], graded_text=evaluation["graded_text"])
        if role == "scaling":
            grid = dict(caps=tuple(evaluation["caps"]), waits=tuple(evaluation["waits"]),
                        wait_caps=tuple(evaluation["wait_caps"]), rejection_caps=tuple(evaluation["rejection_caps"]))
        elif role == "open":
                grid = dict(caps=(ablation["cap"],), waits=(0,), min_thinking=0, open=True)
        elif role == "control":  # a length-controlled model runs its own prompts only
            grid = dict(caps=(), waits=(0,))
        else:
            grid = dict(caps=(ablation["cap"],), waits=(ablation["waits"],))
        grid = {"wait_caps": (), "rejection_caps": (), "open": False, **grid}
        return cls(**{**common, **grid})

    def settings(self) -> list[Setting]:
        """The grid's settings, then the conditional ones."""
        conditional = [c.setting() for c in self.conditional]
        if not self.caps and conditional:
            return conditional
        grid = settings_grid(list(self.caps), list(self.waits), min_thinking=self.min_thinking,
                             ignore_str=self.ignore_str, open=self.open, wait_caps=list(self.wait_caps) or None)
        return grid + conditional

    def sweep_plan(self, seed: int) -> SweepPlan:
        """The exact plan the sweep runs; every sampled setting is seeded from `seed`."""
        vote = Vote(samples=self.majority_samples, cap=self.majority_cap, open=self.open) \
            if self.majority_samples else None
        return SweepPlan(
            settings=self.settings(),
            sampling=Sampling(temperature=self.temperature, samples=self.samples, seed=seed),
            rejections=[Rejection(cap=c) for c in self.rejection_caps], rejection_max_tries=self.rejection_max_tries,
            rejection_sampling=Sampling(temperature=self.rejection_temperature, seed=seed),
            vote=vote, vote_sampling=Sampling(temperature=self.majority_temperature, seed=seed), open=self.open)

    def to_params(self) -> dict[str, Any]:
        """The sweep as the workflow's sweep rule carries it (plain values; keys only where used)."""
        if self.rejection_temperature != self.majority_temperature:
            raise ConfigError("a workflow sweep has one evaluation.sampling_temperature for rejection sampling "
                              "and the majority vote")
        params: dict[str, Any] = {
            "min_thinking": self.min_thinking, "ignore_str": self.ignore_str, "temperature": self.temperature,
            "samples": self.samples, "rejection_max_tries": self.rejection_max_tries,
            "majority_cap": self.majority_cap, "grader": self.grader,
            "sampling_temperature": self.rejection_temperature, "graded_text": self.graded_text,
            "caps": list(self.caps), "waits": list(self.waits), "rejection_caps": list(self.rejection_caps),
            "majority_samples": self.majority_samples,
        }
        if self.wait_caps:
            params["wait_caps"] = list(self.wait_caps)
        if self.open:
            params["open"] = True
        if self.conditional:
            params["conditional"] = [c.to_params() for c in self.conditional]
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ModelSweep:
        """The inverse of :meth:`to_params`."""
        try:
            temp = float(params["sampling_temperature"])
            return cls(
                caps=tuple(params["caps"]), waits=tuple(params["waits"]), wait_caps=tuple(params.get("wait_caps", ())),
                min_thinking=int(params["min_thinking"]), ignore_str=params["ignore_str"],
                open=bool(params.get("open", False)), temperature=float(params["temperature"]),
                samples=int(params["samples"]), rejection_caps=tuple(params["rejection_caps"]),
                rejection_max_tries=int(params["rejection_max_tries"]), rejection_temperature=temp,
                majority_samples=int(params["majority_samples"]), majority_cap=params["majority_cap"],
                majority_temperature=temp,
                conditional=tuple(ConditionalSpec.from_params(c) for c in params.get("conditional", ())),
                grader=params["grader"], graded_text=params["graded_text"])
        except KeyError as exc:
            raise ConfigError(f"sweep settings {dict(params)}: missing key {exc}") from None


def ablation_setting(evaluation: Mapping[str, Any]) -> Forced:
    """The budget-forcing setting every model is compared at in the ablation table."""
    ablation = evaluation["ablation"]
    return Forced(cap=ablation["cap"], num_wait=ablation["waits"], min_thinking=evaluation["min_thinking"],
                  ignore_str=evaluation["ignore_str"])


def open_setting(evaluation: Mapping[str, Any]) -> Open:
    """The setting an open model is compared at: the ablation cap, as its own response."""
    return Open(cap=evaluation["ablation"]["cap"])
