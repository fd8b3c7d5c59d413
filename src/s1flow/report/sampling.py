"""What s1's tasks report for sampled runs: ``cov@n`` and ``maj@n`` (S1_REFERENCE 9.3).

For a setting with N samples per question, s1's ``process_results`` reports, for n in the powers
of two ``2, 4, ..., <= N`` (``[2**i for i in range(1, N.bit_length())]``):

- ``cov@n``: any of the first n samples is correct (coverage, pass@n over the first n);
- ``maj@n``: the most common extracted answer of the first n samples is correct. s1 counts
  answers with ``collections.Counter(...).most_common(1)``, so its tie break depends on iteration
  order: a Counter keeps its keys in first-insertion order and ``most_common(1)`` returns the
  first of the tied answers, i.e. the tie goes to the answer seen first. Here the order is the
  ``sample`` index, whatever the row order of the table.

Here the vote is :func:`s1flow.generate.grading.majority_vote` over the ``extracted`` column, with
equivalent spellings counted as one answer (``normalise_answer``); the winner is graded like
the sample that carries it (its ``correct``). Ties go to the answer seen first, as in s1. A
sample without an extracted answer casts no vote (s1's math tasks vote with its raw answer text,
which matches no other sample's in practice; its GPQA task counts it as the letter A), and a
question none of whose first n samples has an answer counts as wrong. Both figures are means
over questions, in percent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from s1flow.errors import InputFileError
from s1flow.generate.grading import per_question_correct
from s1flow.io import require_columns, write_table, write_text

SAMPLING_COLUMNS = ["model", "evalset", "setting", "n", "questions", "cov", "maj"]


def vote_sizes(samples: int) -> list[int]:
    """s1's n values for `samples` samples per question: 2, 4, 8, ... up to `samples`."""
    return [2 ** i for i in range(1, int(samples).bit_length())]


def coverage_majority(samples: pd.DataFrame, *, where: str = "samples") -> pd.DataFrame:
    """Per sampled setting of one samples table (more than one sample per question): ``cov@n`` and
    ``maj@n`` for every n of :func:`vote_sizes`; columns setting, n, questions, cov, maj."""
    require_columns(samples, ["qid", "setting", "sample", "extracted", "correct"], where)
    rows = []
    for setting, group in samples.groupby("setting", sort=False):
        per_q = group.groupby("qid", sort=False)["sample"].nunique()
        if per_q.max() < 2:
            continue
        if per_q.nunique() != 1:
            raise InputFileError(f"{where}: setting '{setting}' has {int(per_q.min())} to {int(per_q.max())} samples "
                                 "per question; cov@n and maj@n need the same number for every question")
        ordered = group.sort_values(["sample"], kind="stable")
        ranks = ordered.groupby("qid", sort=False).cumcount()  # the first n samples by sample index
        for n in vote_sizes(int(per_q.iloc[0])):
            first = ordered[ranks < n]
            cov = first.groupby("qid", sort=False)["correct"].agg(lambda c: bool(c.fillna(False).astype(bool).any()))
            maj = per_question_correct(first, where=where)["correct"]
            rows.append({"setting": str(setting), "n": n, "questions": int(len(cov)),
                         "cov": float(cov.mean() * 100), "maj": float(maj.mean() * 100)})
    return pd.DataFrame(rows, columns=SAMPLING_COLUMNS[2:])


def sampling_table(tables: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """:func:`coverage_majority` of every (model, eval set) samples table, one frame (:data:`SAMPLING_COLUMNS`)."""
    frames = []
    for (model, evalset), samples in tables.items():
        part = coverage_majority(samples, where=f"samples of {model} on {evalset}")
        frames.append(part.assign(model=model, evalset=evalset))
    if not frames:
        return pd.DataFrame(columns=SAMPLING_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SAMPLING_COLUMNS]


def sampling_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown: one row per (model, eval set, setting), cov@n / maj@n side by side."""
    lines = ["# Sampled runs: coverage and majority vote", "",
             "cov@n: any of the first n samples correct; maj@n: their most common answer correct "
             "(% of questions; n = 2, 4, 8, ... as s1's tasks report).", ""]
    if table.empty:
        return "\n".join([*lines, "No setting has more than one sample per question.", ""])
    ns = sorted(table["n"].unique())
    lines.append("| model | eval set | setting | questions | " + " | ".join(f"cov@{n} | maj@{n}" for n in ns) + " |")
    lines.append("| --- | --- | --- | --- | " + " | ".join("--- | ---" for _ in ns) + " |")
    for (model, evalset, setting), g in table.groupby(["model", "evalset", "setting"], sort=False):
        by_n = g.set_index("n")
        cells = [f"{by_n.at[n, 'cov']:.1f} | {by_n.at[n, 'maj']:.1f}" if n in by_n.index else " | " for n in ns]
        lines.append(f"| {model} | {evalset} | `{setting}` | {int(g['questions'].iloc[0])} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines) + "\n"


def write_sampling(table: pd.DataFrame, *, md: str | os.PathLike, csv: str | os.PathLike) -> None:
    """Write the table as CSV (full precision) and as Markdown."""
    write_table(table[SAMPLING_COLUMNS], csv)
    write_text(sampling_markdown(table), md)
