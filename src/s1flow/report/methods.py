"""The test-time scaling method comparison (the paper's Table 3 and Figures 4-6's points).

Settings of a samples table are sorted into methods by :data:`METHODS` (first match wins):
budget forcing (``cap=...``, sequential scaling), token-conditional control alone
(``tok=N``) and with budget forcing (``tok=N,cap=B``), step-conditional control alone
(``steps=N``) and with budget forcing (``steps=N,cap=B``), class-conditional control
(``class=long`` / ``class=short``), rejection sampling (``rs:cap=...``) and majority voting
(``maj@N``, parallel scaling, expanded into k = 1, 2, 4, ..., N votes). Each method gets the
paper's Control, Scaling and Performance over its points.

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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from s1flow.conditional import count_steps
from s1flow.errors import InputFileError
from s1flow.grading import per_question_correct
from s1flow.io import require_columns, write_table
from s1flow.report import metrics

log = logging.getLogger(__name__)

POINT_COLUMNS = ["evalset", "method", "model", "setting", "budget", "mean_thinking_tokens", "accuracy", "within"]
METHOD_COLUMNS = ["evalset", "method", "model", "control", "scaling", "scaling_per_1k", "performance", "n_settings"]

_MAJ_RE = re.compile(r"maj@(\d+)")
_TOK_RE = re.compile(r"tok=(\d+)")
_STEPS_RE = re.compile(r"steps=(\d+)")
_CLASS_RE = re.compile(r"class=(long|short)")
_FORCED_RE = re.compile(r"(?:tok|steps)=\d+,cap=\S+")


@dataclass(frozen=True)
class Method:
    """How one method's settings are recognised and measured.

    `budgeted`: Control applies; `limit` says what a point is held to: ``cap`` (the
    ``budget`` column, in thinking tokens), ``tokens`` / ``steps`` (the N the prompt states)
    or ``class`` (the plain setting of the same model and cap).
    `votes`: a ``maj@N`` setting becomes points k = 1, 2, 4, ..., N whose compute is the
    total thinking of the k voting samples; otherwise compute is the mean thinking per sample.
    """

    name: str
    matches: Callable[[str], bool]
    budgeted: bool
    votes: bool = False
    limit: str = "cap"


METHODS: list[Method] = [
    Method("budget forcing", lambda s: s.startswith("cap="), budgeted=True),
    Method("token-conditional", lambda s: _TOK_RE.fullmatch(s) is not None, budgeted=True, limit="tokens"),
    Method("token-conditional + budget forcing", lambda s: s.startswith("tok=") and _FORCED_RE.fullmatch(s) is not None,
           budgeted=True),
    Method("step-conditional", lambda s: _STEPS_RE.fullmatch(s) is not None, budgeted=True, limit="steps"),
    Method("step-conditional + budget forcing",
           lambda s: s.startswith("steps=") and _FORCED_RE.fullmatch(s) is not None, budgeted=True),
    Method("class-conditional", lambda s: _CLASS_RE.fullmatch(s) is not None, budgeted=True, limit="class"),
    Method("rejection sampling", lambda s: s.startswith("rs:cap="), budgeted=True),
    Method("majority voting", lambda s: _MAJ_RE.fullmatch(s) is not None, budgeted=False, votes=True),
]


def method_of(setting: str) -> Method | None:
    """The first method in :data:`METHODS` whose predicate accepts `setting`, else None."""
    return next((m for m in METHODS if m.matches(setting)), None)


def vote_counts(n: int) -> list[int]:
    """Numbers of votes plotted for ``maj@n``: the powers of two below `n`, then `n`."""
    ks = [1 << i for i in range(n.bit_length()) if (1 << i) < n]
    return ks + [n]


def _accuracy(rows: pd.DataFrame, where: str) -> float:
    return float(per_question_correct(rows, where=where)["correct"].mean() * 100)


def _budget(rows: pd.DataFrame) -> float:
    values = pd.to_numeric(rows["budget"], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else math.nan


def _vote_points(rows: pd.DataFrame, setting: str, where: str) -> list[dict]:
    n = int(_MAJ_RE.fullmatch(setting).group(1))
    per_q = rows.groupby("qid", sort=False)["sample"].nunique()
    short = per_q[per_q < n]
    if len(short):
        raise InputFileError(f"{where}: setting '{setting}' has only {int(short.iloc[0])} samples for question "
                             f"'{short.index[0]}' ({len(short)} questions short of {n})")
    out = []
    for k in vote_counts(n):
        sub = rows[rows["sample"] < k]
        tokens = pd.to_numeric(sub["thinking_tokens"], errors="coerce").groupby(sub["qid"], sort=False).sum()
        out.append({"setting": f"maj@{k}", "budget": math.nan, "mean_thinking_tokens": float(tokens.mean()),
                    "accuracy": _accuracy(sub, where), "within": math.nan})
    return out


def _within(method: Method, setting: str, rows: pd.DataFrame, budget: float, tokens: float, where: str) -> float:
    """1.0 when the point stayed within its budget, 0.0 when not (class-conditional: filled in later)."""
    try:
        if method.limit == "cap":
            return metrics.control([budget], [tokens], settings=[setting])
        if method.limit == "tokens":
            return metrics.control([int(_TOK_RE.fullmatch(setting).group(1))], [tokens], settings=[setting])
        if method.limit == "steps":
            steps = rows["thinking"].astype(str).map(count_steps).mean()
            return metrics.control([int(_STEPS_RE.fullmatch(setting).group(1))], [steps], settings=[setting])
    except InputFileError as exc:
        raise InputFileError(f"{where}, {method.name}: {exc}") from exc
    return math.nan


def _class_within(points: list[dict]) -> None:
    """Class-conditional control: long at least as long as, short at most as long as the plain
    budget-forcing setting (no Waits) at the same cap; NaN without one."""
    plain = {p["budget"]: p["mean_thinking_tokens"] for p in points
             if p["method"] == "budget forcing" and "," not in p["setting"]}
    for p in points:
        if p["method"] != "class-conditional":
            continue
        ref = plain.get(p["budget"])
        if ref is None:
            continue
        longer = _CLASS_RE.fullmatch(p["setting"]).group(1) == "long"
        p["within"] = float(p["mean_thinking_tokens"] >= ref if longer else p["mean_thinking_tokens"] <= ref)


def setting_points(samples: pd.DataFrame, *, model: str, evalset: str) -> pd.DataFrame:
    """One point per setting of one samples table (majority voting: one per vote count); columns POINT_COLUMNS.

    Accuracy in percent (majority vote over a question's samples, as in
    :func:`s1flow.grading.per_question_correct`); settings no method claims are left out.
    """
    where = f"samples of model '{model}' on eval set '{evalset}'"
    require_columns(samples, ["qid", "setting", "budget", "sample", "thinking", "thinking_tokens", "extracted",
                              "correct"], where)
    by_method: dict[str, list[dict]] = {m.name: [] for m in METHODS}
    vote_settings = []
    for setting, rows in samples.groupby("setting", sort=False):
        setting = str(setting)
        method = method_of(setting)
        if method is None:
            log.info("%s: setting '%s' belongs to no method; left out of the comparison", where, setting)
            continue
        if method.votes:
            vote_settings.append(setting)
            by_method[method.name] += _vote_points(rows, setting, where)
            continue
        tokens = float(pd.to_numeric(rows["thinking_tokens"], errors="coerce").mean())
        budget = _budget(rows)
        by_method[method.name].append({"setting": setting, "budget": budget, "mean_thinking_tokens": tokens,
                                       "accuracy": _accuracy(rows, where),
                                       "within": _within(method, setting, rows, budget, tokens, where)})
    if len(vote_settings) > 1:
        raise InputFileError(f"{where}: several majority-voting settings {vote_settings}; expected at most one")
    rows = [{"evalset": evalset, "method": name, "model": model, **p} for name, pts in by_method.items() for p in pts]
    _class_within(rows)
    return pd.DataFrame(rows, columns=POINT_COLUMNS).astype({"budget": float, "mean_thinking_tokens": float,
                                                             "accuracy": float, "within": float})


def method_points(tables: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """:func:`setting_points` of every (model, eval set) table, in the order given."""
    frames = [setting_points(df, model=model, evalset=evalset) for (model, evalset), df in tables.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=POINT_COLUMNS)


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
    path = Path(md)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown, encoding="utf-8")
