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
from s1flow.generate.grading import per_question_correct
from s1flow.io import require_columns, write_table, write_text
from s1flow.report import metrics

log = logging.getLogger(__name__)

#: a point: its setting's label and typed columns (``cap`` NaN for auto; ``votes``: the votes of a
#: majority-voting point), its budget and its measurements
POINT_COLUMNS = ["evalset", "method", "model", "setting", "cap", "num_wait", "min_thinking", "stated_budget",
                 "length_class", "votes", "budget", "mean_thinking_tokens", "accuracy", "within"]
METHOD_COLUMNS = ["evalset", "method", "model", "control", "scaling", "scaling_per_1k", "performance", "n_settings"]
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


def _accuracy(rows: pd.DataFrame, where: str) -> float:
    return float(per_question_correct(rows, where=where)["correct"].mean() * 100)


def _budget(rows: pd.DataFrame) -> float:
    values = pd.to_numeric(rows["budget"], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else math.nan


def _vote_points(rows: pd.DataFrame, setting: str, n: int, where: str) -> list[dict]:
    per_q = rows.groupby("qid", sort=False)["sample"].nunique()
    short = per_q[per_q < n]
    if len(short):
        raise InputFileError(f"{where}: setting '{setting}' has only {int(short.iloc[0])} samples for question "
                             f"'{short.index[0]}' ({len(short)} questions short of {n})")
    out = []
    for k in vote_counts(n):
        sub = rows[rows["sample"] < k]
        tokens = pd.to_numeric(sub["thinking_tokens"], errors="coerce").groupby(sub["qid"], sort=False).sum()
        out.append({"setting": f"maj@{k}", "votes": k, "budget": math.nan,
                    "mean_thinking_tokens": float(tokens.mean()), "accuracy": _accuracy(sub, where),
                    "within": math.nan})
    return out


def _within(method: Method, setting: str, rows: pd.DataFrame, budget: float, tokens: float, stated: float,
            where: str) -> float:
    """1.0 when the point stayed within its budget, 0.0 when not (class-conditional: filled in later)."""
    try:
        if method.limit == "cap":
            return metrics.control([budget], [tokens], settings=[setting])
        if method.limit == "tokens":
            return metrics.control([stated], [tokens], settings=[setting])
        if method.limit == "steps":
            steps = rows["thinking"].astype(str).map(count_steps).mean()
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


def setting_points(samples: pd.DataFrame, *, model: str, evalset: str) -> pd.DataFrame:
    """One point per setting of one samples table (majority voting: one per vote count); columns POINT_COLUMNS.

    Accuracy in percent (majority vote over a question's samples, as in
    :func:`s1flow.generate.grading.per_question_correct`); settings no method claims are left out.
    """
    where = f"samples of model '{model}' on eval set '{evalset}'"
    require_columns(samples, ["qid", "setting", "budget", "sample", "thinking", "thinking_tokens", "extracted",
                              "correct", *_SETTING_KEYS], where)
    by_method: dict[str, list[dict]] = {m.name: [] for m in METHODS}
    vote_settings = []
    for setting, rows in samples.groupby("setting", sort=False):
        setting = str(setting)
        columns = _setting_columns(rows)
        method = method_of(columns)
        if method is None:
            log.info("%s: setting '%s' belongs to no method; left out of the comparison", where, setting)
            continue
        shared = {"cap": columns["cap"], "num_wait": int(columns["num_wait"]),
                  "min_thinking": int(columns["min_thinking"]), "stated_budget": columns["stated_budget"],
                  "length_class": columns["length_class"]}
        if method.votes:
            vote_settings.append(setting)
            n = int(columns["samples_per_question"])
            by_method[method.name] += [{**shared, **p} for p in _vote_points(rows, setting, n, where)]
            continue
        tokens = float(pd.to_numeric(rows["thinking_tokens"], errors="coerce").mean())
        budget = _budget(rows)
        stated = math.nan if columns["stated_budget"] is None else float(columns["stated_budget"])
        by_method[method.name].append({"setting": setting, **shared, "votes": math.nan, "budget": budget,
                                       "mean_thinking_tokens": tokens, "accuracy": _accuracy(rows, where),
                                       "within": _within(method, setting, rows, budget, tokens, stated, where)})
    if len(vote_settings) > 1:
        raise InputFileError(f"{where}: several majority-voting settings {vote_settings}; expected at most one")
    rows = [{"evalset": evalset, "method": name, "model": model, **p} for name, pts in by_method.items() for p in pts]
    _class_within(rows)
    return pd.DataFrame(rows, columns=POINT_COLUMNS).astype(POINT_DTYPES)


#: the points' column types (``cap``, ``stated_budget`` and ``votes`` are NaN where they do not apply)
POINT_DTYPES = {"cap": float, "num_wait": "int64", "min_thinking": "int64", "stated_budget": float, "votes": float,
                "budget": float, "mean_thinking_tokens": float, "accuracy": float, "within": float}


def method_points(tables: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """:func:`setting_points` of every (model, eval set) table, in the order given."""
    frames = [setting_points(df, model=model, evalset=evalset) for (model, evalset), df in tables.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=POINT_COLUMNS).astype(POINT_DTYPES)


def _metrics(points: pd.DataFrame, method: Method, where: str) -> dict:
    tokens, acc = points["mean_thinking_tokens"].to_numpy(), points["accuracy"].to_numpy()
    within = points["within"].dropna()
    control = float(within.mean()) if method.budgeted and len(within) else math.nan
    positive = tokens > 0  # log2 is undefined at zero thinking tokens
    return {"control": control,
            "scaling": metrics.scaling(np.log2(tokens[positive]), acc[positive]),
            "scaling_per_1k": metrics.scaling(tokens / 1000, acc),
            "performance": metrics.performance(acc), "n_settings": len(points)}


def method_rows(samples: pd.DataFrame, *, model: str, evalset: str) -> pd.DataFrame:
    """Control (0-1), Scaling and Performance (%) of every method present in one samples table.

    ``scaling``: mean pairwise slope with x = log2(mean thinking tokens), i.e. accuracy points
    per doubling of thinking; ``scaling_per_1k``: the same with x in thousands of tokens.
    Control is NaN for methods without budgets (majority voting).
    """
    points = setting_points(samples, model=model, evalset=evalset)
    where = f"samples of model '{model}' on eval set '{evalset}'"
    rows = []
    for method in METHODS:
        pts = points[points["method"] == method.name]
        if len(pts):
            rows.append({"evalset": evalset, "method": method.name, "model": model, **_metrics(pts, method, where)})
    return pd.DataFrame(rows, columns=METHOD_COLUMNS)


def methods_table(tables: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """:func:`method_rows` of every (model, eval set) table; rows by eval set, then method, then model."""
    frames = [method_rows(df, model=model, evalset=evalset) for (model, evalset), df in tables.items()]
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


def methods_markdown(table: pd.DataFrame) -> str:
    """The comparison as Markdown, one section per eval set."""
    require_columns(table, METHOD_COLUMNS, "methods table")
    lines = ["Control: share of a method's settings whose average thinking tokens stay within the budget. "
             "Scaling: mean slope of accuracy (percentage points) over all pairs of settings, per doubling "
             "of average thinking tokens and per 1,000 thinking tokens. Performance: best accuracy (%).", ""]
    for evalset, group in table.groupby("evalset", sort=False):
        lines += [f"## {evalset}", "",
                  "| method | model | Control | Scaling (points / doubling) | Scaling (points / 1k tokens) "
                  "| Performance (%) | settings |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for _, r in group.iterrows():
            lines.append(f"| {r['method']} | {r['model']} | {_fmt(r['control'] * 100, '.0f', ' %')} "
                         f"| {_fmt(r['scaling'], '.1f')} | {_fmt(r['scaling_per_1k'], '.1f')} "
                         f"| {_fmt(r['performance'], '.1f')} | {int(r['n_settings'])} |")
        lines.append("")
    return "\n".join(lines)


def write_methods(table: pd.DataFrame, *, md: str | os.PathLike, csv: str | os.PathLike) -> None:
    """Write the comparison as CSV (columns METHOD_COLUMNS, full precision) and as Markdown."""
    markdown = methods_markdown(table)
    write_table(table[METHOD_COLUMNS], csv)
    write_text(markdown, md)
