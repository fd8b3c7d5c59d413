"""Replicated samples tables: every (model, eval set) evaluated once per training seed.

A model fine-tuned with several training seeds has one samples table per seed (its
replicates); a model the workflow does not fine-tune (e.g. ``base``) has one, under replicate
None. The report's tables read them as :data:`Replicated` and turn one setting of one
(model, eval set) into cubes of shape (questions, training seeds, samples) for the nested
bootstrap of :mod:`s1flow.report.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.grading import per_question_correct
from s1flow.io import require_columns

#: a replicate: the training seed, or None for a model evaluated once (not fine-tuned here)
Replicate = int | None
#: (model, eval set) -> {replicate: samples table}, in the order given
Replicated = dict[tuple[str, str], dict[Replicate, pd.DataFrame]]


def single(tables: Mapping[tuple[str, str], pd.DataFrame]) -> Replicated:
    """A plain (model, eval set) -> samples mapping as :data:`Replicated`: one replicate (None) each."""
    return {(str(m), str(e)): {None: df} for (m, e), df in tables.items()}


def as_replicates(samples: pd.DataFrame | Mapping[Replicate, pd.DataFrame]) -> dict[Replicate, pd.DataFrame]:
    """One (model, eval set)'s replicates; a single samples table is one replicate (None)."""
    if isinstance(samples, pd.DataFrame):
        return {None: samples}
    if not samples:
        raise InputFileError("no samples tables: expected at least one replicate")
    return dict(samples)


def where(model: str, evalset: str, replicate: Replicate = None) -> str:
    """How errors name one samples table."""
    seed = "" if replicate is None else f" (training seed {replicate})"
    return f"samples of model '{model}' on eval set '{evalset}'{seed}"


def _seed_order(replicates: Mapping[Replicate, pd.DataFrame]) -> list[Replicate]:
    """Replicates by training seed, so that two models' cubes pair seeds by value (None: one replicate)."""
    keys = list(replicates)
    if None in keys and len(keys) > 1:
        raise InputFileError(f"replicates {keys}: a model is either evaluated once (None) or per training seed")
    return sorted(keys, key=lambda k: -1 if k is None else int(k))


@dataclass(frozen=True)
class SettingCubes:
    """One setting of one (model, eval set): per (question, training seed, sample) cells.

    ``correct`` holds 0/1; ``thinking`` the thinking tokens and ``generated`` thinking plus
    answer tokens (None unless asked for). A majority vote is one cell per (question, seed):
    its correctness, and the tokens summed over its voting samples.
    """

    qids: list[str]
    replicates: list[Replicate]
    correct: np.ndarray
    thinking: np.ndarray | None = None
    generated: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        """Cells per (question, training seed): samples of a plain setting, 1 for greedy or a vote."""
        return int(self.correct.shape[2])

    def reordered(self, qids: Sequence[str]) -> SettingCubes:
        """The same cubes with their questions in the order `qids` (the same set of questions)."""
        pos = {q: i for i, q in enumerate(self.qids)}
        idx = np.array([pos[str(q)] for q in qids], dtype=np.intp)

        def take(cube: np.ndarray | None) -> np.ndarray | None:
            return None if cube is None else cube[idx]

        return SettingCubes([str(q) for q in qids], self.replicates, self.correct[idx], take(self.thinking),
                            take(self.generated))


def question_difference(qids: Sequence[str], reference: Sequence[str]) -> tuple[list[str], list[str]]:
    """Questions only in `qids` and only in `reference` (each in its own order)."""
    here, there = set(qids), set(reference)
    return [q for q in qids if q not in there], [q for q in reference if q not in here]


def _setting_rows(samples: pd.DataFrame, setting: str, label: str) -> pd.DataFrame:
    require_columns(samples, ["qid", "setting", "sample", "correct"], label)
    rows = samples[samples["setting"].astype(str) == setting]
    if rows.empty:
        have = list(dict.fromkeys(map(str, samples["setting"])))
        raise ConfigError(f"{label}: no rows for setting '{setting}'; the table has settings {have}")
    return rows.assign(qid=rows["qid"].astype(str), sample=rows["sample"].astype(int))


def _check_votes(rows: pd.DataFrame, setting: str, votes: int, label: str) -> None:
    per_q = rows.groupby("qid", sort=False)["sample"].nunique()
    short = per_q[per_q < votes]
    if len(short):
        raise InputFileError(f"{label}: setting '{setting}' has only {int(short.iloc[0])} samples for question "
                             f"'{short.index[0]}' ({len(short)} questions short of {votes})")


def _grid(rows: pd.DataFrame, setting: str, label: str) -> tuple[list[str], list[int]]:
    """The table's questions (first-seen order) and the sample indices every question has."""
    dup = rows.duplicated(["qid", "sample"])
    if dup.any():
        first = rows[dup].iloc[0]
        raise InputFileError(f"{label}: setting '{setting}' has question '{first['qid']}' sample {first['sample']} "
                             "more than once")
    per_q = rows.groupby("qid", sort=False)["sample"].agg(lambda s: tuple(sorted(s)))
    expected = per_q.iloc[0]
    odd = per_q[per_q != expected]
    if len(odd):
        raise InputFileError(f"{label}: setting '{setting}' has samples {list(odd.iloc[0])} for question "
                             f"'{odd.index[0]}' but {list(expected)} for question '{per_q.index[0]}'; every "
                             "question needs the same samples")
    return list(per_q.index), list(expected)


def _cells(rows: pd.DataFrame, column: str, qids: list[str], samples: list[int], label: str) -> np.ndarray:
    """A (questions, samples) matrix of one column (rows complete on the grid)."""
    if column == "correct":
        values = rows["correct"].astype("boolean").fillna(False).astype(float)
    else:
        values = pd.to_numeric(rows[column], errors="coerce")
        if values.isna().any():
            bad = rows.loc[values.isna(), "qid"].iloc[0]
            raise InputFileError(f"{label}: column '{column}' has no number for question '{bad}'")
    table = pd.Series(values.to_numpy(dtype=float), index=pd.MultiIndex.from_arrays([rows["qid"], rows["sample"]]))
    return table.unstack("sample").reindex(index=qids, columns=samples).to_numpy(dtype=float)


def setting_cubes(replicates: Mapping[Replicate, pd.DataFrame], setting: str, *, model: str, evalset: str,
                  votes: int | None = None, tokens: bool = False) -> SettingCubes:
    """The cubes of `setting` over the replicates of one (model, eval set).

    Questions follow the first replicate's order; replicates are sorted by training seed. Every
    replicate must hold the same questions with the same sample indices (an error names the
    model, eval set and replicate). A plain setting is one cell per sample (avg@n: a sampled
    setting's accuracy is the mean over its samples); with `votes`, the cell is the majority
    vote over the samples with index below `votes` (:func:`per_question_correct`) and its
    tokens the sum over them. `tokens`: also the thinking and generated (thinking + answer) tokens.
    """
    if not replicates:
        raise InputFileError(f"{where(model, evalset)}: no replicates to read setting '{setting}' from")
    order = _seed_order(replicates)
    qids: list[str] | None = None
    grid: list[int] | None = None
    first = ""
    correct, thinking, generated = [], [], []
    for replicate in order:
        label = where(model, evalset, replicate)
        rows = _setting_rows(replicates[replicate], setting, label)
        if tokens:
            require_columns(rows, ["thinking_tokens", "answer_tokens"], label)
        if votes is not None:
            _check_votes(rows, setting, votes, label)
            rows = rows[rows["sample"] < votes]
        here, samples = _grid(rows, setting, label)
        if qids is None:
            qids, grid, first = here, samples, label
        else:
            only_here, only_first = question_difference(here, qids)
            if only_here or only_first:
                raise InputFileError(
                    f"{label}: setting '{setting}' has other questions than the {first}: {len(only_here)} only here "
                    f"(e.g. {only_here[:3]}), {len(only_first)} only there (e.g. {only_first[:3]}); replicates "
                    "must be evaluated on the same questions")
            if samples != grid:
                raise InputFileError(f"{label}: setting '{setting}' has samples {samples} per question but the "
                                     f"{first} has {grid}; replicates must draw the same samples")
        if votes is not None:
            per_q = per_question_correct(rows, where=label)
            ok = per_q.assign(qid=per_q["qid"].astype(str)).set_index("qid")["correct"].reindex(qids)
            correct.append(ok.to_numpy(dtype=float)[:, None])
            if tokens:
                think = _cells(rows, "thinking_tokens", qids, samples, label).sum(axis=1, keepdims=True)
                answer = _cells(rows, "answer_tokens", qids, samples, label).sum(axis=1, keepdims=True)
                thinking.append(think)
                generated.append(think + answer)
        else:
            correct.append(_cells(rows, "correct", qids, samples, label))
            if tokens:
                think = _cells(rows, "thinking_tokens", qids, samples, label)
                thinking.append(think)
                generated.append(think + _cells(rows, "answer_tokens", qids, samples, label))

    def stack(mats: list[np.ndarray]) -> np.ndarray | None:
        return np.stack(mats, axis=1) if mats else None

    return SettingCubes(qids or [], order, np.stack(correct, axis=1), stack(thinking), stack(generated))
