"""Token accounting, and sequential against parallel scaling at the same generated tokens (the paper's Figure 4b).

A sample's generated tokens are ``thinking_tokens + answer_tokens`` (docs/file-formats.md): what
the model generated for it, thinking and answer phase; inserted text (Waits, a forced
``Final Answer:``) is not counted. The compute of a setting for one question is the generated
tokens of all its samples of that question: a vote over N samples costs the N samples' tokens,
a greedy setting its one sample's. Accuracy is counted as in the rest of the report: a
majority vote by its vote (:func:`s1flow.generate.grading.per_question_correct`), any other
setting by the mean over its samples.
Rejection sampling records only the accepted sample, so its rejected attempts are not counted.

:func:`matched_tokens` compares the two ways to spend more tokens at equal cost: majority voting
(parallel; k = 1, 2, 4, ..., N votes over the first k samples by ``sample``, as the method
comparison's points) and budget forcing without Waits (sequential; one point per thinking cap).
Each point of one curve is set against the other curve linearly interpolated in log2 tokens
between its two neighbouring points; outside the other curve's token range there is no
comparison (no extrapolation), and the ``note`` says why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from s1flow.errors import InputFileError
from s1flow.generate.grading import per_question_correct
from s1flow.io import require_columns, write_table, write_text
from s1flow.report.methods import vote_counts
from s1flow.report.sampling import Replicated, as_replicated

TOKEN_COLUMNS = ["model", "evalset", "setting", "method", "budget", "num_wait", "min_thinking", "samples_per_question",
                 "replicates", "questions", "thinking_per_sample", "answer_per_sample", "generated_per_sample",
                 "generated_per_question", "generated_total", "accuracy"]
MATCHED_COLUMNS = ["evalset", "parallel_model", "parallel_setting", "sequential_model", "anchor", "point", "votes",
                   "generated_per_question", "parallel_accuracy", "sequential_accuracy", "difference", "note"]
#: the samples columns the accounting reads
_COLUMNS = ["qid", "setting", "method", "budget", "num_wait", "min_thinking", "samples_per_question", "sample",
            "thinking_tokens", "answer_tokens", "extracted", "correct"]


def _generated(rows: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(rows["thinking_tokens"], errors="coerce") + pd.to_numeric(rows["answer_tokens"],
                                                                                   errors="coerce")


def _figures(rows: pd.DataFrame, where: str) -> dict[str, float]:
    """One replicate's accounting of one setting's rows."""
    generated = _generated(rows)
    if generated.isna().any():
        raise InputFileError(f"{where}: setting '{rows['setting'].iloc[0]}' has samples without thinking_tokens "
                             "or answer_tokens")
    per_question = generated.groupby(rows["qid"], sort=False).sum()
    return {"thinking_per_sample": float(pd.to_numeric(rows["thinking_tokens"]).mean()),
            "answer_per_sample": float(pd.to_numeric(rows["answer_tokens"]).mean()),
            "generated_per_sample": float(generated.mean()),
            "generated_per_question": float(per_question.mean()),
            "generated_total": float(generated.sum()),
            "accuracy": _accuracy(rows, where)}


def _accuracy(rows: pd.DataFrame, where: str) -> float:
    """% correct as the rest of the report counts it: a majority-vote setting by its vote per question,
    any other setting by the mean over its samples (avg@n; greedy: the one sample)."""
    if (rows["method"].astype(str) == "majority_vote").all():
        return float(per_question_correct(rows, where=where)["correct"].mean() * 100)
    per_question = rows["correct"].astype("boolean").fillna(False).astype(float).groupby(rows["qid"], sort=False)
    return float(per_question.mean().mean() * 100)


def _replicate_rows(replicates: Mapping[int | None, pd.DataFrame], setting: str, where: str) -> list[pd.DataFrame]:
    """The setting's rows in every replicate (an error names a replicate that lacks it)."""
    out = []
    for seed, df in replicates.items():
        rows = df[df["setting"] == setting]
        if rows.empty:
            raise InputFileError(f"{where} (training seed {seed}): no setting '{setting}', which another training "
                                 "seed has; replicates must run the same sweep")
        out.append(rows)
    return out


def token_table(tables: Mapping[tuple[str, str], pd.DataFrame] | Replicated) -> pd.DataFrame:
    """Generated tokens and accuracy of every setting, one row per (model, eval set, setting); columns
    :data:`TOKEN_COLUMNS`, figures the mean over training seeds.

    ``*_per_sample``: mean tokens of one sample; ``generated_per_question``: mean over questions of the
    generated tokens of all the question's samples (the compute behind one answer of the setting);
    ``generated_total``: the whole eval set's; ``accuracy``: % correct (a majority vote by its vote,
    any other setting by the mean over its samples).
    """
    records = []
    for (model, evalset), replicates in as_replicated(tables).items():
        where = f"samples of {model} on {evalset}"
        for seed, df in replicates.items():
            require_columns(df, _COLUMNS, f"{where} (training seed {seed})")
        first = next(iter(replicates.values()), None)
        if first is None:
            continue
        for setting in first["setting"].drop_duplicates():
            parts = _replicate_rows(replicates, str(setting), where)
            figures = pd.DataFrame([_figures(rows, where) for rows in parts]).mean()
            typed = parts[0].iloc[0]
            records.append({"model": model, "evalset": evalset, "setting": str(setting), "method": typed["method"],
                            "budget": typed["budget"], "num_wait": int(typed["num_wait"]),
                            "min_thinking": int(typed["min_thinking"]),
                            "samples_per_question": int(typed["samples_per_question"]), "replicates": len(parts),
                            "questions": int(parts[0]["qid"].nunique()), **figures.to_dict()})
    return pd.DataFrame(records, columns=TOKEN_COLUMNS)


def vote_curve(replicates: Mapping[int | None, pd.DataFrame], setting: str, *, where: str = "samples") -> pd.DataFrame:
    """Majority voting's points: k = 1, 2, 4, ..., N votes over the first k samples by ``sample``; columns
    point (``maj@k``), votes, generated_per_question (the k samples' tokens), accuracy (%); replicate means."""
    parts = _replicate_rows(replicates, setting, where)
    n = int(parts[0]["samples_per_question"].iloc[0])
    points = []
    for k in vote_counts(n):
        figures = []
        for rows in parts:
            ordered = rows.sort_values("sample", kind="stable")
            first = ordered[ordered.groupby("qid", sort=False).cumcount() < k]
            figures.append(_figures(first, where))
        mean = pd.DataFrame(figures).mean()
        points.append({"point": f"maj@{k}", "votes": k, "generated_per_question": mean["generated_per_question"],
                       "accuracy": mean["accuracy"]})
    return pd.DataFrame(points, columns=["point", "votes", "generated_per_question", "accuracy"])


def interpolate_log2(tokens: np.ndarray | list[float], accuracy: np.ndarray | list[float],
                     at: float) -> tuple[float, str]:
    """A curve's accuracy at `at` tokens, linear in log2 tokens between its two neighbouring points.

    Returns (accuracy, "") inside the curve's token range, else (NaN, the reason). Points at
    zero tokens are left out (log2 is undefined there); points at equal tokens are averaged.
    """
    x, y = np.asarray(tokens, dtype=float), np.asarray(accuracy, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    if not keep.any():
        return math.nan, "no points with tokens"
    curve = pd.Series(y[keep]).groupby(x[keep]).mean()  # sorted by tokens
    if not np.isfinite(at) or at <= 0:
        return math.nan, "no tokens"
    low, high = float(curve.index[0]), float(curve.index[-1])
    if at < low:
        return math.nan, f"fewer tokens than its first point ({low:.0f})"
    if at > high:
        return math.nan, f"more tokens than its last point ({high:.0f})"
    return float(np.interp(np.log2(at), np.log2(curve.index.to_numpy()), curve.to_numpy())), ""


def _sequential_curves(table: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """(model, eval set) -> its budget-forcing points without Waits or a minimum (one per cap)."""
    plain = table[(table["method"] == "budget_forcing") & (table["num_wait"] == 0) & (table["min_thinking"] == 0)]
    return {(str(m), str(e)): g for (m, e), g in plain.groupby(["model", "evalset"], sort=False)}


def matched_tokens(tables: Mapping[tuple[str, str], pd.DataFrame] | Replicated) -> pd.DataFrame:
    """Parallel (majority voting) against sequential (budget forcing) scaling at the same generated tokens.

    For every majority-voting setting and every model's budget-forcing curve on the same eval
    set: one row per vote point (``anchor`` parallel: its measured accuracy, the budget-forcing
    curve interpolated at its tokens) and one per budget-forcing point (``anchor`` sequential:
    the vote curve interpolated at its tokens). ``difference`` is parallel minus sequential
    (points); NaN with a ``note`` outside the other curve's range. Columns :data:`MATCHED_COLUMNS`.
    """
    replicated = as_replicated(tables)
    table = token_table(replicated)
    sequential = _sequential_curves(table)
    votes = table[table["method"] == "majority_vote"]
    rows = []
    for _, vote in votes.iterrows():
        model, evalset = str(vote["model"]), str(vote["evalset"])
        curve = vote_curve(replicated[(model, evalset)], vote["setting"], where=f"samples of {model} on {evalset}")
        for (seq_model, seq_evalset), seq in sequential.items():
            if seq_evalset != evalset:
                continue
            shared = {"evalset": evalset, "parallel_model": model, "parallel_setting": vote["setting"],
                      "sequential_model": seq_model}
            for _, p in curve.iterrows():
                other, note = interpolate_log2(seq["generated_per_question"], seq["accuracy"],
                                               p["generated_per_question"])
                rows.append({**shared, "anchor": "parallel", "point": p["point"], "votes": int(p["votes"]),
                             "generated_per_question": p["generated_per_question"],
                             "parallel_accuracy": p["accuracy"], "sequential_accuracy": other,
                             "difference": p["accuracy"] - other, "note": note and f"budget forcing: {note}"})
            for _, s in seq.sort_values("generated_per_question", kind="stable").iterrows():
                other, note = interpolate_log2(curve["generated_per_question"], curve["accuracy"],
                                               s["generated_per_question"])
                rows.append({**shared, "anchor": "sequential", "point": s["setting"], "votes": math.nan,
                             "generated_per_question": s["generated_per_question"], "parallel_accuracy": other,
                             "sequential_accuracy": s["accuracy"], "difference": other - s["accuracy"],
                             "note": note and f"majority voting: {note}"})
    return pd.DataFrame(rows, columns=MATCHED_COLUMNS).astype({"votes": float})


def _num(value: float, spec: str) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:{spec}}".replace("-", "−")


def compute_markdown(table: pd.DataFrame, matched: pd.DataFrame) -> str:
    """The token table and the matched-token comparison as Markdown."""
    require_columns(table, TOKEN_COLUMNS, "token table")
    require_columns(matched, MATCHED_COLUMNS, "matched-token table")
    lines = ["# Compute: generated tokens", "",
             "Generated tokens of a sample: thinking plus answer tokens the model generated (inserted Waits and "
             "a forced `Final Answer:` not counted). Per question: all of the question's samples (a majority vote "
             "over N samples costs N samples). Means over training seeds.", "",
             "| model | eval set | setting | samples | seeds | thinking / sample | answer / sample "
             "| generated / question | generated, eval set | accuracy (%) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for _, r in table.iterrows():
        lines.append(f"| {r['model']} | {r['evalset']} | `{r['setting']}` | {int(r['samples_per_question'])} "
                     f"| {int(r['replicates'])} | {_num(r['thinking_per_sample'], '.1f')} "
                     f"| {_num(r['answer_per_sample'], '.1f')} | {_num(r['generated_per_question'], '.1f')} "
                     f"| {_num(r['generated_total'], ',.0f')} | {_num(r['accuracy'], '.1f')} |")
    lines += ["", "## Sequential against parallel scaling at matched tokens", "",
              "Each point of one curve against the other curve at the same generated tokens per question, "
              "interpolated linearly in log2 tokens between its two neighbouring points (no extrapolation). "
              "Parallel: majority voting over the first k samples; sequential: budget forcing without Waits, "
              "one point per thinking cap. Difference: parallel minus sequential (accuracy points).", ""]
    if matched.empty:
        return "\n".join([*lines, "No eval set has both a majority vote and a budget-forcing curve.", ""])
    lines += ["| eval set | parallel | sequential | point | generated / question | parallel (%) | sequential (%) "
              "| parallel − sequential | note |",
              "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for _, r in matched.iterrows():
        lines.append(f"| {r['evalset']} | {r['parallel_model']} `{r['parallel_setting']}` | {r['sequential_model']} "
                     f"| `{r['point']}` | {_num(r['generated_per_question'], '.1f')} "
                     f"| {_num(r['parallel_accuracy'], '.1f')} | {_num(r['sequential_accuracy'], '.1f')} "
                     f"| {_num(r['difference'], '+.1f')} | {r['note']} |")
    return "\n".join(lines) + "\n"


def write_compute(table: pd.DataFrame, matched: pd.DataFrame, *, md: str | os.PathLike, csv: str | os.PathLike,
                  matched_csv: str | os.PathLike) -> None:
    """Write the token table and the matched-token comparison as CSV (full precision) and both as Markdown."""
    markdown = compute_markdown(table, matched)
    write_table(table[TOKEN_COLUMNS], csv)
    write_table(matched[MATCHED_COLUMNS], matched_csv)
    write_text(markdown, md)
