"""cov@n and maj@n of sampled runs, as s1's tasks report them (S1_REFERENCE 9.3), on hand-computed cases."""

from __future__ import annotations

import pandas as pd
import pytest

from s1flow.errors import InputFileError
from s1flow.report.sampling import coverage_majority, sampling_markdown, sampling_table, vote_sizes, write_sampling


def rows(setting: str, qid: str, extracted: list, correct: list[bool]) -> list[dict]:
    return [{"qid": qid, "setting": setting, "sample": k, "extracted": e, "correct": c}
            for k, (e, c) in enumerate(zip(extracted, correct, strict=True))]


def test_vote_sizes_are_s1s_powers_of_two():
    assert vote_sizes(64) == [2, 4, 8, 16, 32, 64]
    assert vote_sizes(6) == [2, 4] and vote_sizes(2) == [2] and vote_sizes(1) == []


def test_cov_and_maj_on_a_hand_computed_case():
    data = (rows("maj@4", "q1", ["5", "7", "7", "5"], [True, False, False, True])  # ties go to 5, seen first
            + rows("maj@4", "q2", [None, "4", "3", "3"], [False, False, True, True])  # no answer: no vote
            + rows("cap=64", "q1", ["5"], [True]) + rows("cap=64", "q2", ["1"], [False]))  # one sample: not sampled
    df = pd.DataFrame(data).sample(frac=1.0, random_state=3)  # row order must not matter: first n by sample
    out = coverage_majority(df)
    assert out["setting"].tolist() == ["maj@4", "maj@4"] and out["n"].tolist() == [2, 4]
    # n = 2: q1 {5: 1, 7: 1} -> 5 (first) correct, covered; q2 {4: 1} -> wrong, not covered
    # n = 4: q1 {5: 2, 7: 2} -> 5 correct; q2 {3: 2, 4: 1} -> 3 correct; both covered
    assert out["cov"].tolist() == [50.0, 100.0] and out["maj"].tolist() == [50.0, 100.0]
    assert out["questions"].tolist() == [2, 2]


def test_a_tie_is_won_by_the_answer_seen_first():
    first_wrong = pd.DataFrame(rows("maj@2", "q", ["7", "5"], [False, True]))
    out = coverage_majority(first_wrong)
    assert out["maj"].tolist() == [0.0] and out["cov"].tolist() == [100.0]


def test_uneven_sample_counts_are_an_error():
    df = pd.DataFrame(rows("maj@4", "q1", ["1", "1", "2", "2"], [True] * 4)
                      + rows("maj@4", "q2", ["1", "1"], [True] * 2))
    with pytest.raises(InputFileError, match="maj@4"):
        coverage_majority(df, where="x.parquet")


def test_table_and_files(tmp_path):
    df = pd.DataFrame(rows("maj@2", "q", ["7", "5"], [False, True]))
    table = sampling_table({("base", "aime24"): df})
    assert table.columns.tolist() == ["model", "evalset", "setting", "n", "questions", "cov", "maj"]
    write_sampling(table, md=tmp_path / "s.md", csv=tmp_path / "s.csv")
    assert pd.read_csv(tmp_path / "s.csv")["cov"].tolist() == [100.0]
    assert "| base | aime24 | `maj@2` | 1 | 100.0 | 0.0 |" in (tmp_path / "s.md").read_text()
    assert "No setting" in sampling_markdown(sampling_table({}))


def test_no_answer_and_equivalent_spellings():
    df = pd.DataFrame(rows("maj@4", "q", [None, None, "\\dfrac{1}{2}", "7"], [False, False, True, False])
                      + rows("maj@4", "r", ["\\dfrac{1}{2}", "7", "\\frac{1}{2}", "7"], [True, False, True, False]))
    out = coverage_majority(df)
    # n = 2: q has no answer among its first two (wrong, not covered); r ties 1/2 vs 7 -> 1/2 (first), correct
    # n = 4: q {1/2: 1, 7: 1} -> 1/2, correct; r {1/2: 2 (two spellings), 7: 2} -> 1/2, correct
    assert out["cov"].tolist() == [50.0, 100.0] and out["maj"].tolist() == [50.0, 100.0]
