"""Replicated samples tables: reading [model, evalset, replicate] entries and building per-setting cubes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import setting_row

from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.setting import Forced, Vote
from s1flow.generate.sweep import samples_frame
from s1flow.report.replicates import setting_cubes, single
from s1flow.stages.report import read_tables

CAP8 = Forced(cap=8)


def table(correct: list[bool], setting=CAP8, qids=("q1", "q2"), tokens: int = 8) -> pd.DataFrame:
    """One row per (question, sample) of `setting`; `correct` runs over questions, then samples."""
    n = getattr(setting, "samples", 1)
    rows = [setting_row(setting, qid=q, budget=8, sample=s, thinking="t", answer="a", thinking_tokens=tokens + s,
                        answer_tokens=3, finish="stop", extracted="1" if ok else "2", correct=ok)
            for i, q in enumerate(qids) for s, ok in enumerate(correct[i * n:(i + 1) * n])]
    return samples_frame(rows)


def test_read_tables_groups_replicates_in_the_order_given(tmp_path):
    files = []
    for name, df in (("a", table([True, False])), ("b", table([True, True])), ("c", table([False, False]))):
        files.append(tmp_path / f"{name}.parquet")
        df.to_parquet(files[-1])
    out = read_tables([["s1k", "aime", 2], ("s1k", "aime", 1), ["base", "aime", None]], files)
    assert list(out) == [("s1k", "aime"), ("base", "aime")]
    assert list(out[("s1k", "aime")]) == [2, 1] and list(out[("base", "aime")]) == [None]
    assert out[("s1k", "aime")][1]["correct"].tolist() == [True, True]
    # an old [model, evalset] pair is replicate None
    assert list(read_tables([["base", "aime"]], files[:1])) == [("base", "aime")]
    assert list(read_tables([["base", "aime"]], files[:1])[("base", "aime")]) == [None]


@pytest.mark.parametrize(("tables", "match"), [
    ([["s1k", "aime", 1], ["s1k", "aime", 1]], "listed twice for replicate 1"),
    ([["s1k", "aime", None], ["s1k", "aime", 1]], "both a single run"),
    ([["s1k", "aime", 1], ["s1k", "aime"]], "both a single run"),
    ([["s1k"], ["s1k", "aime"]], r"expected \[model, evalset\]"),
    ([["s1k", "aime", "x"], ["s1k", "math"]], "must be a training seed"),
])
def test_read_tables_refuses_bad_entries(tmp_path, tables, match):
    path = tmp_path / "s.parquet"
    table([True, True]).to_parquet(path)
    with pytest.raises(ConfigError, match=match):
        read_tables(tables, [path, path])


def test_single_wraps_a_plain_mapping():
    df = table([True, False])
    assert single({("m", "e"): df}) == {("m", "e"): {None: df}}


def test_cubes_by_hand():
    """Seeds sorted by value (3 before 5); a sampled setting keeps its samples, a vote is one cell."""
    vote = Vote(samples=2)
    five = table([True, False, True, True], vote, tokens=10)
    three = table([False, False, True, False], vote, tokens=10)
    c = setting_cubes({5: five, 3: three}, vote.name, model="m", evalset="e", tokens=True)
    assert c.replicates == [3, 5] and c.qids == ["q1", "q2"] and c.correct.shape == (2, 2, 2)
    assert c.correct[:, 0].tolist() == [[0, 0], [1, 0]] and c.correct[:, 1].tolist() == [[1, 0], [1, 1]]
    assert c.thinking[0, 0].tolist() == [10, 11] and np.array_equal(c.generated, c.thinking + 3)
    # the vote over 2 samples (ties go to the first seen answer): seed 3 q1 wrong, q2 right; seed 5 q1 right, q2 right
    v = setting_cubes({5: five, 3: three}, vote.name, model="m", evalset="e", votes=2, tokens=True)
    assert v.correct.shape == (2, 2, 1) and v.correct[:, :, 0].tolist() == [[0, 1], [1, 1]]
    assert v.thinking[:, :, 0].tolist() == [[21, 21], [21, 21]] and v.generated[0, 0, 0] == 27
    assert c.reordered(["q2", "q1"]).correct[0].tolist() == c.correct[1].tolist()


def test_cube_errors_name_the_replicate():
    with pytest.raises(ConfigError, match=r"model 'm' on eval set 'e' \(training seed 2\): no rows for setting"):
        setting_cubes({1: table([True, True]), 2: table([True, True], Forced(cap=16))}, "cap=8", model="m",
                      evalset="e")
    dup = pd.concat([table([True, True]), table([True, True])])
    with pytest.raises(InputFileError, match="question 'q1' sample 0 more than once"):
        setting_cubes({None: dup}, "cap=8", model="m", evalset="e")
    ragged = table([True, False, True, True], Vote(samples=2)).iloc[:-1]
    with pytest.raises(InputFileError, match=r"samples \[0\] for question 'q2' but \[0, 1\] for question 'q1'"):
        setting_cubes({None: ragged}, "maj@2", model="m", evalset="e")
