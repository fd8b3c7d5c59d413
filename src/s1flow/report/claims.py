"""The comparisons a results section states, each with its nested paired interval.

A claim "A beats B" compares model A at one setting with model B at another on the same
questions of one eval set: the difference of their accuracies (replicate means, in points)
with a 95 % interval from :func:`s1flow.report.bootstrap.nested_bootstrap_means`, which
resamples questions, within them training seeds, and within those samples, paired on all
three levels. A claim holds when its whole interval lies above zero.

:func:`standard_comparisons` lists the comparisons the README states for a run: the
reference model's (s1K's) accuracy at its largest against its smallest cap (sequential
scaling), the reference against the base model (fine-tuning helps), the reference against
every other trained subset (the data ablation) and one Wait against none at the largest
cap (extrapolation). They are computed for every swept eval set, so a claim that holds on
one set and not another shows both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from s1flow.config.sweeps import ablation_setting, open_setting
from s1flow.errors import InputFileError
from s1flow.generate.setting import Forced
from s1flow.io import require_columns, write_table, write_text
from s1flow.report.bootstrap import cube_mean, nested_bootstrap_means, percentile_interval
from s1flow.report.replicates import SettingCubes, as_replicates, question_difference, setting_cubes, where

CLAIM_COLUMNS = ["evalset", "claim", "model", "setting", "versus_model", "versus_setting", "n_questions",
                 "replicates", "accuracy", "versus_accuracy", "difference", "low", "high", "holds",
                 "n_resamples", "seed"]

#: (model, eval set) -> {training seed or None: samples table} (:data:`s1flow.report.replicates.Replicated`);
#: a plain table counts as one replicate
Tables = Mapping[tuple[str, str], "pd.DataFrame | Mapping[Any, pd.DataFrame]"]


@dataclass(frozen=True)
class Comparison:
    """`model` at `setting` against `versus_model` at `versus_setting` on `evalset` (claim: the first is higher)."""

    claim: str
    evalset: str
    model: str
    setting: str
    versus_model: str
    versus_setting: str


def standard_comparisons(evaluation: Mapping[str, Any], *, reference: str, evalsets: Sequence[str],
                         scaling_models: Sequence[str], ablation_models: Sequence[str],
                         open_models: Sequence[str], base: str = "base") -> list[Comparison]:
    """The README's comparisons for a validated ``evaluation`` section (see the module docstring)."""
    ablation = ablation_setting(evaluation).name

    def setting_of(model: str) -> str:
        return open_setting(evaluation).name if model in open_models else ablation

    def forced(cap: int | str, waits: int = 0) -> str:
        return Forced(cap=cap, num_wait=waits, min_thinking=int(evaluation["min_thinking"]),
                      ignore_str=evaluation["ignore_str"]).name

    numeric = sorted(c for c in evaluation["caps"] if isinstance(c, int))
    out = []
    for evalset in evalsets:
        if reference in scaling_models and len(numeric) > 1:
            out.append(Comparison(f"{reference} rises from cap {numeric[0]} to cap {numeric[-1]}", evalset,
                                  reference, forced(numeric[-1]), reference, forced(numeric[0])))
        if base in ablation_models and reference != base:
            out.append(Comparison(f"{reference} beats {base}", evalset, reference, setting_of(reference), base,
                                  setting_of(base)))
        for other in ablation_models:
            if other not in (reference, base):
                out.append(Comparison(f"{reference} beats {other}", evalset, reference, setting_of(reference),
                                      other, setting_of(other)))
        if reference in scaling_models and numeric and 1 in evaluation["waits"]:
            out.append(Comparison(f"one Wait helps {reference} at cap {numeric[-1]}", evalset, reference,
                                  forced(numeric[-1], 1), reference, forced(numeric[-1])))
    return out


def _cubes(tables: Tables, model: str, evalset: str, setting: str) -> SettingCubes:
    try:
        value = tables[(model, evalset)]
    except KeyError:
        raise InputFileError(f"claims: no samples of model '{model}' on eval set '{evalset}'") from None
    return setting_cubes(as_replicates(value), setting, model=model, evalset=evalset)


def claims_table(tables: Tables, comparisons: Sequence[Comparison], *, n_resamples: int = 10_000,
                 seed: int) -> pd.DataFrame:
    """One row per comparison (:data:`CLAIM_COLUMNS`): both accuracies, their difference and its interval
    (percent points); `holds` when the interval's lower end is above zero."""
    rows = []
    for c in comparisons:
        first = _cubes(tables, c.model, c.evalset, c.setting)
        other = _cubes(tables, c.versus_model, c.evalset, c.versus_setting)
        only_there, only_here = question_difference(other.qids, first.qids)
        if only_here or only_there:
            raise InputFileError(f"{where(c.versus_model, c.evalset)}: questions differ from those of model "
                                 f"'{c.model}' ({len(only_there)} only here, {len(only_here)} only there); a "
                                 "paired comparison needs the same questions")
        qids, a, b = first.qids, first.correct, other.reordered(first.qids).correct
        resampled = nested_bootstrap_means({"a": a, "b": b}, n_resamples=n_resamples, seed=seed)
        low, high = percentile_interval((resampled["a"] - resampled["b"]) * 100)
        diff = (cube_mean(a) - cube_mean(b)) * 100
        rows.append({"evalset": c.evalset, "claim": c.claim, "model": c.model, "setting": c.setting,
                     "versus_model": c.versus_model, "versus_setting": c.versus_setting, "n_questions": len(qids),
                     "replicates": f"{a.shape[1]}/{b.shape[1]}", "accuracy": cube_mean(a) * 100,
                     "versus_accuracy": cube_mean(b) * 100, "difference": diff, "low": low, "high": high,
                     "holds": bool(low > 0), "n_resamples": n_resamples, "seed": seed})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _pts(value: float) -> str:
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text.replace("-", "−")


def claims_markdown(table: pd.DataFrame) -> str:
    """The comparisons as Markdown, grouped by eval set."""
    require_columns(table, CLAIM_COLUMNS, "claims table")
    lines = ["# Claims and their intervals", "",
             "Each row compares two accuracies on the same questions (percent; replicate means over training "
             "seeds). The interval is a 95 % nested paired bootstrap over questions, training seeds and samples "
             "(`n_resamples` resamples). A claim holds when its whole interval is above zero.", ""]
    for evalset, group in table.groupby("evalset", sort=False):
        n = int(group["n_questions"].iloc[0])
        lines += [f"## {evalset} (n={n}; one question = {100 / n:.2g} points)", "",
                  "| claim | accuracy | against | difference [95 % CI] | holds |", "| --- | ---: | ---: | ---: | --- |"]
        for _, r in group.iterrows():
            lines.append(f"| {r['claim']} (`{r['setting']}` vs `{r['versus_setting']}`) | {r['accuracy']:.1f} | "
                         f"{r['versus_accuracy']:.1f} | {_pts(r['difference'])} [{_pts(r['low'])}, {_pts(r['high'])}]"
                         f" | {'yes' if r['holds'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)


def write_claims(table: pd.DataFrame, *, md: str | os.PathLike, csv: str | os.PathLike) -> None:
    """Write the comparisons as CSV (full precision) and as Markdown."""
    markdown = claims_markdown(table)
    write_table(table[CLAIM_COLUMNS], csv)
    write_text(markdown, md)
