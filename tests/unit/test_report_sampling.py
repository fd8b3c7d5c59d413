"""cov@n and maj@n of sampled runs, as s1's tasks report them (S1_REFERENCE 9.3), and pass@k and avg@N with
replicate intervals, on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from s1flow.errors import InputFileError
from s1flow.report.sampling import (
    SAMPLING_COLUMNS,
    coverage_majority,
    pass_at_k,
    sampling_markdown,
    sampling_table,
    vote_sizes,
    write_sampling,
)


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
    table = sampling_table({("base", "aime24"): df}, n_resamples=200, seed=0)
    assert table.columns.tolist() == SAMPLING_COLUMNS
    assert SAMPLING_COLUMNS[:7] == ["model", "evalset", "setting", "n", "questions", "cov", "maj"]
    assert table["n"].tolist() == [1, 2] and math.isnan(table["cov"].iloc[0])  # s1 reports no cov@1
    write_sampling(table, md=tmp_path / "s.md", csv=tmp_path / "s.csv")
    back = pd.read_csv(tmp_path / "s.csv")
    assert back["cov"].tolist()[1:] == [100.0] and back["pass"].tolist() == [50.0, 100.0]
    text = (tmp_path / "s.md").read_text()
    # one question: the question level has nothing to resample; avg@2 resamples its two samples
    assert "| base | aime24 | `maj@2` | 1 | 1 | 2 | 100.0 | 0.0 | 100.0 |" in text
    assert "| base | aime24 | `maj@2` | 1 | 1 | 2 | 50.0 [0.0, 100.0] |" in text
    assert "No setting" in sampling_markdown(sampling_table({}, seed=0))


def test_pass_at_k_is_the_unbiased_estimator():
    for n in (1, 4, 7):
        for c in range(n + 1):
            for k in range(1, n + 1):
                want = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k([c], n, k)[0] == pytest.approx(want)
    assert pass_at_k([3, 0], 4, 2).tolist() == [1.0, 0.0]  # n - c < k: every draw of two holds a correct one
    with pytest.raises(ValueError, match="k must lie"):
        pass_at_k([1], 4, 5)


def three_questions() -> pd.DataFrame:
    """4 samples each. q1: c = 2 (samples 0, 3); q2: c = 2 (samples 2, 3); q3: c = 1 (sample 3)."""
    return pd.DataFrame(rows("maj@4", "q1", ["5", "7", "7", "5"], [True, False, False, True])
                        + rows("maj@4", "q2", [None, "4", "3", "3"], [False, False, True, True])
                        + rows("maj@4", "q3", ["1", "2", "3", "4"], [False, False, False, True]))


def test_pass_at_k_and_avg_on_a_hand_computed_table():
    table = sampling_table({("m", "e"): three_questions()}, n_resamples=500, seed=1)
    by_n = table.set_index("n")
    # pass@1 = c / 4: (1/2 + 1/2 + 1/4) / 3 = 5/12
    # pass@2 = 1 - C(4-c, 2) / C(4, 2): q1, q2 1 - 1/6 = 5/6; q3 1 - 3/6 = 1/2 -> (5/6 + 5/6 + 1/2) / 3 = 13/18
    # pass@4: n - c < 4 for all three -> 1
    assert by_n["pass"].tolist() == pytest.approx([500 / 12, 1300 / 18, 100.0])
    # cov@n over the first n: q1 only at n = 2 (1/3); all three at n = 4 (= pass@4)
    assert by_n.loc[2, "cov"] == pytest.approx(100 / 3) and by_n.loc[4, "cov"] == 100.0
    # maj@4: q1 tie 5/7 -> 5 right; q2 3 right; q3 no two alike -> 1 (first) wrong
    assert by_n.loc[4, "maj"] == pytest.approx(200 / 3)
    # avg@4 = 5 correct of 12 samples, the same as pass@1, on every row
    assert table["avg"].tolist() == pytest.approx([500 / 12] * 3)
    assert set(table["samples"]) == {4} and set(table["replicates"]) == {1} and set(table["questions"]) == {3}
    for name in ("pass", "avg"):
        assert (table[f"{name}_low"] <= table[name] + 1e-9).all()
        assert (table[name] <= table[f"{name}_high"] + 1e-9).all()
    # s1's figures are those of coverage_majority, unchanged
    s1 = coverage_majority(three_questions())
    assert table.loc[table["n"] > 1, ["cov", "maj"]].to_numpy().ravel() == pytest.approx(
        s1[["cov", "maj"]].to_numpy().ravel())


def test_replicates_are_averaged_with_a_nested_interval():
    one = three_questions()
    all_right = one.assign(correct=True)  # a second training seed that answers every sample right
    plain = sampling_table({("m", "e"): one}, n_resamples=300, seed=4)
    same = sampling_table({("m", "e"): {None: one}}, n_resamples=300, seed=4)
    pd.testing.assert_frame_equal(plain, same)
    two = sampling_table({("m", "e"): {1: one, 2: all_right.sample(frac=1.0, random_state=0)}}, n_resamples=2000,
                         seed=4)
    assert set(two["replicates"]) == {2}
    # replicate means: seed 1's figures and 100 %, halved
    assert two["pass"].tolist() == pytest.approx(((plain["pass"] + 100) / 2).tolist())
    assert two["avg"].iloc[0] == pytest.approx((500 / 12 + 100) / 2)
    # the seeds disagree: resampling them widens the interval of pass@4 (100 % on both seeds for all but none)
    assert (two["pass_high"] - two["pass_low"]).iloc[0] > 0
    row4 = two.set_index("n").loc[4]
    assert row4["pass"] == row4["pass_low"] == row4["pass_high"] == 100.0  # every question, both seeds


def test_replicates_must_run_the_same_questions():
    one = three_questions()
    with pytest.raises(InputFileError, match="training seed 2"):
        sampling_table({("m", "e"): {1: one, 2: one[one["qid"] != "q3"]}}, n_resamples=10, seed=0)
    with pytest.raises(InputFileError, match="training seed 2"):
        sampling_table({("m", "e"): {1: one, 2: one.assign(setting="other")}}, n_resamples=10, seed=0)


def test_intervals_are_deterministic_given_the_seed():
    df = three_questions()
    a = sampling_table({("m", "e"): {0: df, 1: df.assign(correct=~df["correct"])}}, n_resamples=300, seed=9)
    b = sampling_table({("m", "e"): {0: df, 1: df.assign(correct=~df["correct"])}}, n_resamples=300, seed=9)
    pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(a[["pass_low", "pass_high", "avg_low", "avg_high"]].to_numpy()).all()


def test_no_answer_and_equivalent_spellings():
    df = pd.DataFrame(rows("maj@4", "q", [None, None, "\\dfrac{1}{2}", "7"], [False, False, True, False])
                      + rows("maj@4", "r", ["\\dfrac{1}{2}", "7", "\\frac{1}{2}", "7"], [True, False, True, False]))
    out = coverage_majority(df)
    # n = 2: q has no answer among its first two (wrong, not covered); r ties 1/2 vs 7 -> 1/2 (first), correct
    # n = 4: q {1/2: 1, 7: 1} -> 1/2, correct; r {1/2: 2 (two spellings), 7: 2} -> 1/2, correct
    assert out["cov"].tolist() == [50.0, 100.0] and out["maj"].tolist() == [50.0, 100.0]
