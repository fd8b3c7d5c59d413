"""What peers report for sampled runs: s1's ``cov@n`` and ``maj@n`` (S1_REFERENCE 9.3), ``pass@k`` and ``avg@N``.

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

Next to them, what other papers report (:func:`sampled_metrics`):

- ``pass@k`` by the unbiased estimator of Chen et al. 2021 (the Codex paper): of a question's N
  samples c are correct, and pass@k = 1 - C(N-c, k) / C(N, k), the chance that k samples drawn
  without replacement from the N hold a correct one (:func:`pass_at_k`). For k = 1 and the n of
  :func:`vote_sizes`. pass@n and cov@n answer the same question, "is one of n samples
  correct?", and differ only in which samples: cov@n looks at the first n by ``sample`` index,
  pass@n averages over every n of the N (so pass@N = cov@N, and pass@n has less variance);
- ``avg@N``: the mean correctness over all N samples and the questions. It equals pass@1 in value
  (c / N per question); its interval also resamples the samples within a question.

With several training seeds (a :data:`Replicated` mapping), every figure is the mean over the
replicates, with a 95 % interval from :func:`s1flow.report.bootstrap.nested_bootstrap_means`
(questions, then training seeds; for avg@N also samples). All figures of one setting share the
resampling draws.
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
from s1flow.report.bootstrap import cube_mean, nested_bootstrap_means, percentile_interval

#: (model, eval set) -> {training seed, or None for a model that is not fine-tuned: its samples table}
Replicated = dict[tuple[str, str], dict[int | None, pd.DataFrame]]

#: the s1 figures of :func:`coverage_majority`
COVERAGE_COLUMNS = ["setting", "n", "questions", "cov", "maj"]
SAMPLING_COLUMNS = ["model", "evalset", "setting", "n", "questions", "cov", "maj", "replicates", "samples", "pass",
                    "cov_low", "cov_high", "maj_low", "maj_high", "pass_low", "pass_high", "avg", "avg_low",
                    "avg_high"]
#: the columns of :func:`sampled_metrics` (the table less model and eval set)
METRIC_COLUMNS = SAMPLING_COLUMNS[2:]


def vote_sizes(samples: int) -> list[int]:
    """s1's n values for `samples` samples per question: 2, 4, 8, ... up to `samples`."""
    return [2 ** i for i in range(1, int(samples).bit_length())]


def pass_at_k(correct: np.ndarray | list[int], samples: int, k: int) -> np.ndarray:
    """Chen et al.'s unbiased pass@k per question, from the numbers of `correct` samples out of `samples`.

    1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i); 1.0 when n - c < k.
    """
    c = np.asarray(correct, dtype=int)
    n = int(samples)
    if not 1 <= k <= n:
        raise ValueError(f"pass@k: k must lie in 1..{n} (the samples per question), got {k}")
    if ((c < 0) | (c > n)).any():
        raise ValueError(f"pass@k: correct counts must lie in 0..{n}, got {sorted(set(c.tolist()))}")
    out = np.ones(len(c))
    for j, cj in enumerate(c):
        if n - cj >= k:
            out[j] = 1.0 - float(np.prod(1.0 - k / np.arange(n - cj + 1, n + 1)))
    return out


def as_replicated(tables: Mapping[tuple[str, str], pd.DataFrame | Mapping[int | None, pd.DataFrame]]) -> Replicated:
    """A plain (model, eval set) -> samples mapping as one replicate (seed None) each; a Replicated one as it is."""
    return {key: dict(value) if isinstance(value, Mapping) else {None: value} for key, value in tables.items()}


def _samples_per_question(group: pd.DataFrame, setting: str, where: str) -> int:
    per_q = group.groupby("qid", sort=False)["sample"].nunique()
    if per_q.nunique() != 1:
        raise InputFileError(f"{where}: setting '{setting}' has {int(per_q.min())} to {int(per_q.max())} samples "
                             "per question; cov@n and maj@n need the same number for every question")
    return int(per_q.iloc[0])


def _first(group: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The rows ordered by ``sample`` and each row's rank within its question (0 = the first sample)."""
    ordered = group.sort_values(["sample"], kind="stable")
    return ordered, ordered.groupby("qid", sort=False).cumcount()


def coverage_majority(samples: pd.DataFrame, *, where: str = "samples") -> pd.DataFrame:
    """Per sampled setting of one samples table (more than one sample per question): ``cov@n`` and
    ``maj@n`` for every n of :func:`vote_sizes`; columns setting, n, questions, cov, maj."""
    require_columns(samples, ["qid", "setting", "sample", "extracted", "correct"], where)
    rows = []
    for setting, group in samples.groupby("setting", sort=False):
        if group.groupby("qid", sort=False)["sample"].nunique().max() < 2:
            continue
        total = _samples_per_question(group, str(setting), where)
        ordered, ranks = _first(group)
        for n in vote_sizes(total):
            first = ordered[ranks < n]
            cov = first.groupby("qid", sort=False)["correct"].agg(lambda c: bool(c.fillna(False).astype(bool).any()))
            maj = per_question_correct(first, where=where)["correct"]
            rows.append({"setting": str(setting), "n": n, "questions": int(len(cov)),
                         "cov": float(cov.mean() * 100), "maj": float(maj.mean() * 100)})
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def _per_question(group: pd.DataFrame, setting: str, where: str) -> tuple[pd.Index, dict[str, np.ndarray]]:
    """One replicate's per-question figures of one sampled setting (fractions): ``cov@n``, ``maj@n``,
    ``pass@k`` as (Q,) arrays and ``avg`` as the (Q, N) correctness, questions in first-seen order."""
    total = _samples_per_question(group, setting, where)
    ordered, ranks = _first(group)
    qids = pd.Index(group["qid"].drop_duplicates())
    matrix = (ordered.assign(rank=ranks.to_numpy(), ok=ordered["correct"].fillna(False).astype(bool))
              .pivot(index="qid", columns="rank", values="ok").reindex(qids).to_numpy(dtype=float))
    values: dict[str, np.ndarray] = {}
    for n in vote_sizes(total):
        first = ordered[ranks < n]
        values[f"cov@{n}"] = matrix[:, :n].max(axis=1)
        maj = per_question_correct(first, where=where).set_index("qid")["correct"]
        values[f"maj@{n}"] = maj.reindex(qids).to_numpy(dtype=float)
    counts = matrix.sum(axis=1).astype(int)
    for k in [1, *vote_sizes(total)]:
        values[f"pass@{k}"] = pass_at_k(counts, total, k)
    values["avg"] = matrix
    return qids, values


def sampled_metrics(replicates: Mapping[int | None, pd.DataFrame], *, n_resamples: int, seed: int,
                    where: str = "samples") -> pd.DataFrame:
    """cov@n, maj@n, pass@k and avg@N of every sampled setting of one (model, eval set), replicate means with
    95 % nested-bootstrap intervals (percent); columns :data:`METRIC_COLUMNS`.

    One row per (setting, n): n = 1 (pass@1 only; s1 reports no cov@1 or maj@1, left empty) and the n of
    :func:`vote_sizes`; avg@N and its interval repeat on each row of the setting. Every replicate must
    hold the setting with the same questions and the same number of samples per question.
    """
    tables = list(replicates.items())
    if not tables:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    for s, df in tables:
        require_columns(df, ["qid", "setting", "sample", "extracted", "correct"], f"{where} (training seed {s})")
    first_seed, first_df = tables[0]
    rows = []
    for setting, group in first_df.groupby("setting", sort=False):
        setting = str(setting)
        if group.groupby("qid", sort=False)["sample"].nunique().max() < 2:
            continue
        qids, per_q = _per_question(group, setting, f"{where} (training seed {first_seed})")
        stacks = {name: [v] for name, v in per_q.items()}
        for s, df in tables[1:]:
            at = f"{where} (training seed {s})"
            other = df[df["setting"] == setting]
            other_qids, values = _per_question(other, setting, at) if len(other) else (pd.Index([]), None)
            if values is None or set(other_qids) != set(qids) or values["avg"].shape != per_q["avg"].shape:
                raise InputFileError(f"{at}: setting '{setting}' has other questions or another number of samples "
                                     f"than training seed {first_seed}; replicates must run the same sweep")
            order = other_qids.get_indexer(qids)
            for name, v in values.items():
                stacks[name].append(v[order])
        cubes = {name: np.stack(v, axis=1) for name, v in stacks.items()}  # (Q, S) and avg (Q, S, N)
        resampled = nested_bootstrap_means(cubes, n_resamples=n_resamples, seed=seed)
        figures = {name: (cube_mean(cube) * 100, *(x * 100 for x in percentile_interval(resampled[name])))
                   for name, cube in cubes.items()}
        missing = (math.nan, math.nan, math.nan)
        total = cubes["avg"].shape[2]
        avg, avg_low, avg_high = figures["avg"]
        for n in [1, *vote_sizes(total)]:
            cov, cov_low, cov_high = figures.get(f"cov@{n}", missing)
            maj, maj_low, maj_high = figures.get(f"maj@{n}", missing)
            pk, pass_low, pass_high = figures[f"pass@{n}"]
            rows.append({"setting": setting, "n": n, "questions": len(qids), "cov": cov, "maj": maj,
                         "replicates": len(tables), "samples": total, "pass": pk, "cov_low": cov_low,
                         "cov_high": cov_high, "maj_low": maj_low, "maj_high": maj_high, "pass_low": pass_low,
                         "pass_high": pass_high, "avg": avg, "avg_low": avg_low, "avg_high": avg_high})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def sampling_table(tables: Mapping[tuple[str, str], pd.DataFrame] | Replicated, *, n_resamples: int = 10_000,
                   seed: int) -> pd.DataFrame:
    """:func:`sampled_metrics` of every (model, eval set), one frame (:data:`SAMPLING_COLUMNS`).

    `tables` maps (model, eval set) to its samples table, or to {training seed: samples table}
    (:data:`Replicated`); the two kinds may be mixed.
    """
    frames = []
    for (model, evalset), replicates in as_replicated(tables).items():
        part = sampled_metrics(replicates, n_resamples=n_resamples, seed=seed,
                               where=f"samples of {model} on {evalset}")
        frames.append(part.assign(model=model, evalset=evalset))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=SAMPLING_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SAMPLING_COLUMNS]


def _cell(value: float, low: float, high: float) -> str:
    """A figure with its interval, compactly: ``62.5 [50.0, 75.0]``; empty when there is none."""
    if value is None or not np.isfinite(value):
        return ""
    if not (np.isfinite(low) and np.isfinite(high)) or low == high == value:
        return f"{value:.1f}"
    return f"{value:.1f} [{low:.1f}, {high:.1f}]"


def sampling_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown: cov@n / maj@n / pass@n per (model, eval set, setting, n), then avg@N per setting."""
    lines = ["# Sampled runs: coverage, majority vote, pass@k and avg@N", "",
             "cov@n: any of the first n samples correct; maj@n: their most common answer correct "
             "(n = 2, 4, 8, ... as s1's tasks report); pass@n: the unbiased estimate (Chen et al. 2021) that one "
             "of n samples drawn from all N is correct; avg@N: mean correctness of all N samples (= pass@1). "
             "% of questions, mean over training seeds, [95 % nested-bootstrap interval over questions and "
             "training seeds]; a single figure where the interval has no width.", ""]
    if table.empty:
        return "\n".join([*lines, "No setting has more than one sample per question.", ""])
    lines += ["| model | eval set | setting | seeds | questions | n | cov@n | maj@n | pass@n |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for _, r in table.iterrows():
        lines.append(f"| {r['model']} | {r['evalset']} | `{r['setting']}` | {int(r['replicates'])} "
                     f"| {int(r['questions'])} | {int(r['n'])} | {_cell(r['cov'], r['cov_low'], r['cov_high'])} "
                     f"| {_cell(r['maj'], r['maj_low'], r['maj_high'])} "
                     f"| {_cell(r['pass'], r['pass_low'], r['pass_high'])} |")
    lines += ["", "| model | eval set | setting | seeds | questions | N | avg@N |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for (model, evalset, setting), g in table.groupby(["model", "evalset", "setting"], sort=False):
        r = g.iloc[0]
        lines.append(f"| {model} | {evalset} | `{setting}` | {int(r['replicates'])} | {int(r['questions'])} "
                     f"| {int(r['samples'])} | {_cell(r['avg'], r['avg_low'], r['avg_high'])} |")
    return "\n".join(lines) + "\n"


def write_sampling(table: pd.DataFrame, *, md: str | os.PathLike, csv: str | os.PathLike) -> None:
    """Write the table as CSV (full precision) and as Markdown."""
    write_table(table[SAMPLING_COLUMNS], csv)
    write_text(sampling_markdown(table), md)
