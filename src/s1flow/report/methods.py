"""The test-time scaling method comparison (the paper's Table 3 and Figures 4-6's points).

Settings of a samples table are sorted into methods by :data:`METHODS`, read from the typed
setting columns (``method``, ``condition``, ``forced``; docs/file-formats.md), never from the
``setting`` label: budget forcing (sequential scaling), token-conditional control alone and
with budget forcing, step-conditional control alone and with budget forcing, class-conditional
control (long / short), rejection sampling and majority voting (parallel scaling, expanded into
k = 1, 2, 4, ..., N votes). Open settings (a model's own response) belong to no method. Each
method gets the paper's Control, Scaling and Performance over its points.

Control is measured per point from the samples (``within``: 1 when the point stayed within
its budget): a capped setting's mean thinking tokens against its cap; a token-conditional
setting's against the N its prompt states; a step-conditional setting's mean step count
(its markers) against its N steps; a class-conditional setting's mean thinking against the
same model's plain setting at the same cap (long: at least as long, short: at most as long).

A model fine-tuned with several training seeds has one samples table per seed: every point is
a replicate mean (questions, training seeds, samples), and the intervals of a point's accuracy
and of a method's Scaling and Performance come from one nested bootstrap over questions,
training seeds and samples per method (:mod:`s1flow.report.bootstrap`), shared by its settings.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from s1flow.conditional import count_steps
from s1flow.errors import InputFileError
from s1flow.io import require_columns, write_table, write_text
from s1flow.report import metrics
from s1flow.report.bootstrap import cube_mean, nested_bootstrap_means, percentile_interval
from s1flow.report.replicates import Replicate, Replicated, SettingCubes, as_replicates, setting_cubes, where

log = logging.getLogger(__name__)

#: a point: its setting's label and typed columns (``cap`` NaN for auto; ``votes``: the votes of a
#: majority-voting point), its budget and its measurements (replicate means; ``generated_tokens``: thinking
#: plus answer tokens; ``acc_low`` / ``acc_high``: the accuracy's nested-bootstrap interval)
POINT_COLUMNS = ["evalset", "method", "model", "setting", "cap", "num_wait", "min_thinking", "stated_budget",
                 "length_class", "votes", "budget", "mean_thinking_tokens", "generated_tokens", "accuracy", "acc_low",
                 "acc_high", "within"]
METHOD_COLUMNS = ["evalset", "method", "model", "control", "scaling", "scaling_low", "scaling_high", "scaling_per_1k",
                  "performance", "performance_low", "performance_high", "n_settings", "n_replicates"]
#: the samples columns a point is made from
_SETTING_KEYS = ["method", "cap", "num_wait", "min_thinking", "condition", "stated_budget", "length_class", "forced",
                 "samples_per_question"]


@dataclass(frozen=True)
class Method:
    """How one method's settings are recognised and measured.

    `matches` takes a setting's typed columns. `budgeted`: Control applies; `limit` says what
    a point is held to: ``cap`` (the ``budget`` column, in thinking tokens), ``tokens`` / ``steps``
    (the ``stated_budget``) or ``class`` (the plain setting of the same model and cap).
    `votes`: a majority vote over N samples becomes points k = 1, 2, 4, ..., N whose compute is
    the total thinking of the k voting samples; otherwise compute is the mean thinking per sample.
    """

    name: str
    matches: Callable[[Mapping[str, Any]], bool]
    budgeted: bool
    votes: bool = False
    limit: str = "cap"


def _conditional(condition: str, forced: bool) -> Callable[[Mapping[str, Any]], bool]:
    return lambda c: c["method"] == "conditional" and c["condition"] == condition and bool(c["forced"]) == forced


METHODS: list[Method] = [
    Method("budget forcing", lambda c: c["method"] == "budget_forcing", budgeted=True),
    Method("token-conditional", _conditional("tokens", False), budgeted=True, limit="tokens"),
    Method("token-conditional + budget forcing", _conditional("tokens", True), budgeted=True),
    Method("step-conditional", _conditional("steps", False), budgeted=True, limit="steps"),
    Method("step-conditional + budget forcing", _conditional("steps", True), budgeted=True),
    Method("class-conditional", lambda c: c["method"] == "conditional" and c["condition"] == "class", budgeted=True,
           limit="class"),
    Method("rejection sampling", lambda c: c["method"] == "rejection_sampling", budgeted=True),
    Method("majority voting", lambda c: c["method"] == "majority_vote", budgeted=False, votes=True),
]


def method_of(columns: Mapping[str, Any]) -> Method | None:
    """The method in :data:`METHODS` of a setting's typed columns, else None (an open setting)."""
    return next((m for m in METHODS if m.matches(columns)), None)


def vote_counts(n: int) -> list[int]:
    """Numbers of votes plotted for ``maj@n``: the powers of two below `n`, then `n`."""
    ks = [1 << i for i in range(n.bit_length()) if (1 << i) < n]
    return ks + [n]


def _budget(rows: pd.DataFrame) -> float:
    values = pd.to_numeric(rows["budget"], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else math.nan


def _within(method: Method, setting: str, rows: list[pd.DataFrame], budget: float, tokens: float, stated: float,
            where: str) -> float:
    """1.0 when the point stayed within its budget, 0.0 when not (class-conditional: filled in later).

    `rows`: the setting's rows of every replicate; a step count is their replicate mean."""
    try:
        if method.limit == "cap":
            return metrics.control([budget], [tokens], settings=[setting])
        if method.limit == "tokens":
            return metrics.control([stated], [tokens], settings=[setting])
        if method.limit == "steps":
            steps = float(np.mean([r["thinking"].astype(str).map(count_steps).mean() for r in rows]))
            return metrics.control([stated], [steps], settings=[setting])
    except InputFileError as exc:
        raise InputFileError(f"{where}, {method.name}: {exc}") from exc
    return math.nan


def _class_within(points: list[dict]) -> None:
    """Class-conditional control: long at least as long as, short at most as long as the plain
    budget-forcing setting (no Waits) at the same cap; NaN without one."""
    plain = {p["budget"]: p["mean_thinking_tokens"] for p in points
             if p["method"] == "budget forcing" and p["num_wait"] == 0 and p["min_thinking"] == 0}
    for p in points:
        if p["method"] != "class-conditional":
            continue
        ref = plain.get(p["budget"])
        if ref is None:
            continue
        longer = p["length_class"] == "long"
        p["within"] = float(p["mean_thinking_tokens"] >= ref if longer else p["mean_thinking_tokens"] <= ref)


def _setting_columns(rows: pd.DataFrame) -> dict[str, Any]:
    """A setting's typed columns (the same on each of its rows)."""
    first = rows.iloc[0]
    return {k: (None if pd.isna(first[k]) else first[k]) if k in ("cap", "stated_budget") else first[k]
            for k in _SETTING_KEYS}


def _point(setting: str, cubes: SettingCubes, **columns: Any) -> dict:
    """A point's measurements: replicate means of its cubes (accuracy in percent)."""
    assert cubes.thinking is not None and cubes.generated is not None
    return {"setting": setting, **columns, "mean_thinking_tokens": cube_mean(cubes.thinking),
            "generated_tokens": cube_mean(cubes.generated), "accuracy": cube_mean(cubes.correct) * 100}


@dataclass(frozen=True)
class _Resampled:
    """One method's points resampled together: accuracy (%) and mean thinking tokens, (points, resamples)."""

    accuracy: np.ndarray
    thinking: np.ndarray


def _resample(method: str, cubes: list[SettingCubes], settings: list[str], where: str, *, n_resamples: int,
              seed: int) -> _Resampled:
    """One nested bootstrap over all points of a method (shared draws: paired across its settings)."""
    qids = cubes[0].qids
    aligned = []
    for c, setting in zip(cubes, settings, strict=True):
        if set(c.qids) != set(qids):
            raise InputFileError(f"{where}, {method}: setting '{setting}' has other questions than setting "
                                 f"'{settings[0]}'; a method's settings are compared on the same questions")
        aligned.append(c.reordered(qids))
    values = {f"acc{i}": c.correct for i, c in enumerate(aligned)}
    values |= {f"tok{i}": c.thinking for i, c in enumerate(aligned)}
    draws = nested_bootstrap_means(values, n_resamples=n_resamples, seed=seed)
    return _Resampled(np.stack([draws[f"acc{i}"] for i in range(len(aligned))]) * 100,
                      np.stack([draws[f"tok{i}"] for i in range(len(aligned))]))


def _measure(samples: pd.DataFrame | Mapping[Replicate, pd.DataFrame], *, model: str, evalset: str,
             n_resamples: int, seed: int) -> tuple[pd.DataFrame, dict[str, _Resampled], int]:
    """The points of one (model, eval set), each method's resampled points, and the number of replicates."""
    reps = as_replicates(samples)
    label = where(model, evalset)
    for replicate, df in reps.items():
        require_columns(df, ["qid", "setting", "budget", "sample", "thinking", "thinking_tokens", "answer_tokens",
                             "extracted", "correct", *_SETTING_KEYS], where(model, evalset, replicate))
    first = reps[min(reps, key=lambda k: -1 if k is None else int(k))]
    by_method: dict[str, list[dict]] = {m.name: [] for m in METHODS}
    cubes: dict[str, list[SettingCubes]] = {m.name: [] for m in METHODS}
    vote_settings = []
    for setting, rows in first.groupby("setting", sort=False):
        setting = str(setting)
        columns = _setting_columns(rows)
        method = method_of(columns)
        if method is None:
            log.info("%s: setting '%s' belongs to no method; left out of the comparison", label, setting)
            continue
        shared = {"cap": columns["cap"], "num_wait": int(columns["num_wait"]),
                  "min_thinking": int(columns["min_thinking"]), "stated_budget": columns["stated_budget"],
                  "length_class": columns["length_class"]}
        if method.votes:
            vote_settings.append(setting)
            for k in vote_counts(int(columns["samples_per_question"])):
                c = setting_cubes(reps, setting, model=model, evalset=evalset, votes=k, tokens=True)
                by_method[method.name].append(_point(f"maj@{k}", c, **shared, votes=k, budget=math.nan,
                                                     within=math.nan))
                cubes[method.name].append(c)
            continue
        c = setting_cubes(reps, setting, model=model, evalset=evalset, tokens=True)
        point = _point(setting, c, **shared, votes=math.nan, budget=_budget(rows))
        stated = math.nan if columns["stated_budget"] is None else float(columns["stated_budget"])
        every = [df[df["setting"].astype(str) == setting] for df in reps.values()]
        point["within"] = _within(method, setting, every, point["budget"], point["mean_thinking_tokens"], stated,
                                  label)
        by_method[method.name].append(point)
        cubes[method.name].append(c)
    if len(vote_settings) > 1:
        raise InputFileError(f"{label}: several majority-voting settings {vote_settings}; expected at most one")
    resampled = {}
    for name, pts in by_method.items():
        if not pts:
            continue
        draws = _resample(name, cubes[name], [p["setting"] for p in pts], label, n_resamples=n_resamples, seed=seed)
        resampled[name] = draws
        for p, acc in zip(pts, draws.accuracy, strict=True):
            p["acc_low"], p["acc_high"] = percentile_interval(acc)
    rows = [{"evalset": evalset, "method": name, "model": model, **p} for name, pts in by_method.items() for p in pts]
    _class_within(rows)
    points = pd.DataFrame(rows, columns=POINT_COLUMNS).astype(POINT_DTYPES)
    return points, resampled, len(reps)


def setting_points(samples: pd.DataFrame | Mapping[Replicate, pd.DataFrame], *, model: str, evalset: str,
                   n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """One point per setting of one (model, eval set) (majority voting: one per vote count); columns POINT_COLUMNS.

    `samples` is the model's samples table or its replicates (training seed -> table). A
    point's accuracy (%) and token counts are replicate means: over questions, training seeds
    and samples (avg@n for a sampled setting; a majority-voting point is the vote over its k
    samples, :func:`s1flow.generate.grading.per_question_correct`, with the tokens of its k
    samples summed). ``acc_low`` / ``acc_high``: the 95 % interval of a nested bootstrap over
    questions, training seeds and samples, drawn jointly for all settings of the point's
    method (`n_resamples`, `seed`). Settings no method claims are left out.
    """
    return _measure(samples, model=model, evalset=evalset, n_resamples=n_resamples, seed=seed)[0]


#: the points' column types (``cap``, ``stated_budget`` and ``votes`` are NaN where they do not apply)
POINT_DTYPES = {"cap": float, "num_wait": "int64", "min_thinking": "int64", "stated_budget": float, "votes": float,
                "budget": float, "mean_thinking_tokens": float, "generated_tokens": float, "accuracy": float,
                "acc_low": float, "acc_high": float, "within": float}


def method_points(tables: Replicated, *, n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """:func:`setting_points` of every (model, eval set), in the order given."""
    frames = [setting_points(reps, model=model, evalset=evalset, n_resamples=n_resamples, seed=seed)
              for (model, evalset), reps in tables.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=POINT_COLUMNS).astype(POINT_DTYPES)


def _slopes(x: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Per resample (column), the mean pairwise slope of `acc` over `x`; pairs with equal or missing x are
    skipped (NaN where none is left), as :func:`s1flow.report.metrics.scaling` does for one set of points."""
    i, j = np.triu_indices(x.shape[0], k=1)
    dx, df = x[j] - x[i], acc[j] - acc[i]
    ok = np.isfinite(dx) & (dx != 0)
    total = np.where(ok, df / np.where(ok, dx, 1.0), 0.0).sum(axis=0)
    count = ok.sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _finite_interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    return percentile_interval(finite) if len(finite) else (math.nan, math.nan)


def _metrics(points: pd.DataFrame, method: Method, draws: _Resampled) -> dict:
    tokens, acc = points["mean_thinking_tokens"].to_numpy(), points["accuracy"].to_numpy()
    within = points["within"].dropna()
    control = float(within.mean()) if method.budgeted and len(within) else math.nan
    positive = tokens > 0  # log2 is undefined at zero thinking tokens
    scaling = metrics.scaling(np.log2(tokens[positive]), acc[positive])
    with np.errstate(divide="ignore"):
        x = np.where(draws.thinking > 0, np.log2(np.where(draws.thinking > 0, draws.thinking, 1.0)), np.nan)
    s_low, s_high = _finite_interval(_slopes(x, draws.accuracy)) if np.isfinite(scaling) else (math.nan, math.nan)
    p_low, p_high = percentile_interval(draws.accuracy.max(axis=0))
    return {"control": control, "scaling": scaling, "scaling_low": s_low, "scaling_high": s_high,
            "scaling_per_1k": metrics.scaling(tokens / 1000, acc),
            "performance": metrics.performance(acc), "performance_low": p_low, "performance_high": p_high,
            "n_settings": len(points)}


def method_rows(samples: pd.DataFrame | Mapping[Replicate, pd.DataFrame], *, model: str, evalset: str,
                n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Control (0-1), Scaling and Performance (%) of every method present in one (model, eval set).

    Computed on the replicate-mean points of :func:`setting_points`. ``scaling``: mean pairwise
    slope with x = log2(mean thinking tokens), i.e. accuracy points per doubling of thinking;
    ``scaling_per_1k``: the same with x in thousands of tokens. Control is NaN for methods
    without budgets (majority voting). ``performance_low/high`` and ``scaling_low/high``: 95 %
    percentile intervals of the best accuracy and of the slope per doubling over the nested
    resamples of the method's points (questions, training seeds, samples; one draw for all its
    settings and their thinking tokens).
    """
    points, resampled, n_replicates = _measure(samples, model=model, evalset=evalset, n_resamples=n_resamples,
                                               seed=seed)
    rows = []
    for method in METHODS:
        pts = points[points["method"] == method.name]
        if len(pts):
            rows.append({"evalset": evalset, "method": method.name, "model": model,
                         **_metrics(pts, method, resampled[method.name]), "n_replicates": n_replicates})
    return pd.DataFrame(rows, columns=METHOD_COLUMNS)


def methods_table(tables: Replicated, *, n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """:func:`method_rows` of every (model, eval set); rows by eval set, then method, then model."""
    frames = [method_rows(reps, model=model, evalset=evalset, n_resamples=n_resamples, seed=seed)
              for (model, evalset), reps in tables.items()]
    if not frames:
        return pd.DataFrame(columns=METHOD_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    order = {
        "evalset": {e: i for i, e in enumerate(dict.fromkeys(e for _, e in tables))},
        "method": {m.name: i for i, m in enumerate(METHODS)},
        "model": {m: i for i, m in enumerate(dict.fromkeys(m for m, _ in tables))},
    }
    return table.sort_values(list(order), key=lambda col: col.map(order[col.name]), kind="stable",
                             ignore_index=True)


def _fmt(value: float, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:{spec}}{suffix}".replace("-", "−")


def _with_interval(value: float, low: float, high: float) -> str:
    text = _fmt(value, ".1f")
    return text if text == "n/a" or not np.isfinite(low) else f"{text} [{_fmt(low, '.1f')}, {_fmt(high, '.1f')}]"


def methods_markdown(table: pd.DataFrame) -> str:
    """The comparison as Markdown, one section per eval set."""
    require_columns(table, METHOD_COLUMNS, "methods table")
    lines = ["Control: share of a method's settings whose average thinking tokens stay within the budget. "
             "Scaling: mean slope of accuracy (percentage points) over all pairs of settings, per doubling "
             "of average thinking tokens and per 1,000 thinking tokens. Performance: best accuracy (%). "
             "Every point is a mean over training seeds (seeds) and samples; brackets hold 95 % intervals of a "
             "nested paired bootstrap over questions, training seeds and samples.", ""]
    for evalset, group in table.groupby("evalset", sort=False):
        lines += [f"## {evalset}", "",
                  "| method | model | Control | Scaling (points / doubling) | Scaling (points / 1k tokens) "
                  "| Performance (%) | settings | seeds |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for _, r in group.iterrows():
            lines.append(f"| {r['method']} | {r['model']} | {_fmt(r['control'] * 100, '.0f', ' %')} "
                         f"| {_with_interval(r['scaling'], r['scaling_low'], r['scaling_high'])} "
                         f"| {_fmt(r['scaling_per_1k'], '.1f')} "
                         f"| {_with_interval(r['performance'], r['performance_low'], r['performance_high'])} "
                         f"| {int(r['n_settings'])} | {int(r['n_replicates'])} |")
        lines.append("")
    return "\n".join(lines)


def write_methods(table: pd.DataFrame, *, md: str | os.PathLike, csv: str | os.PathLike) -> None:
    """Write the comparison as CSV (columns METHOD_COLUMNS, full precision) and as Markdown."""
    markdown = methods_markdown(table)
    write_table(table[METHOD_COLUMNS], csv)
    write_text(markdown, md)
