"""Token accounting and sequential against parallel scaling at matched tokens, on hand-computed cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import setting_row

from s1flow.errors import InputFileError
from s1flow.generate.setting import Forced, Vote
from s1flow.generate.sweep import samples_frame
from s1flow.report.compute import (
    MATCHED_COLUMNS,
    TOKEN_COLUMNS,
    interpolate_log2,
    matched_tokens,
    token_table,
    vote_curve,
    write_compute,
)


def row(qid, setting, thinking, answer, correct, *, sample=0, extracted=None, **extra):
    extracted = extracted if extracted is not None else ("1" if correct else "2")
    return setting_row(setting, qid=qid, budget=setting.cap if isinstance(setting.cap, int) else 512, sample=sample,
                       thinking="t", answer="a", thinking_tokens=thinking, answer_tokens=answer, finish="stop",
                       extracted=extracted, correct=correct, **extra)


def samples(vote_thinking: int = 40) -> pd.DataFrame:
    rows = [
        # budget forcing, no Waits. cap=100: 90 + 10 = 100 generated tokens per question, 1 of 2 right = 50 %
        row("q1", Forced(cap=100), 90, 10, True), row("q2", Forced(cap=100), 90, 10, False),
        # cap=400: 390 + 10 = 400 per question, 100 %
        row("q1", Forced(cap=400), 390, 10, True), row("q2", Forced(cap=400), 390, 10, True),
        # with a Wait: not on the sequential curve
        row("q1", Forced(cap=400, num_wait=1), 395, 5, False), row("q2", Forced(cap=400, num_wait=1), 395, 5, False),
    ]
    # majority voting over 4 samples of 40 + 10 = 50 generated tokens (gold "1"):
    #   q1 answers 5, 7, 7, 5 with 5 right -> right for k = 1, 2 (tie: 5 first), 4
    #   q2 answers 3, 1, 1, 1 with 1 right -> k = 1: wrong; k = 2: tie, 3 first, wrong; k = 4: right
    # accuracy 50, 50, 100 % at 50, 100, 200 tokens per question
    for s, (e1, e2) in enumerate(zip("5775", "3111", strict=True)):
        rows.append(row("q1", Vote(samples=4, cap=64), vote_thinking, 10, e1 == "5", sample=s, extracted=e1))
        rows.append(row("q2", Vote(samples=4, cap=64), vote_thinking, 10, e2 == "1", sample=s, extracted=e2))
    return samples_frame(rows)


def test_token_table_on_a_hand_computed_case():
    table = token_table({("m", "e"): samples()})
    assert table.columns.tolist() == TOKEN_COLUMNS
    by = table.set_index("setting")
    cap100 = by.loc["cap=100"]
    assert [cap100[c] for c in ("generated_per_sample", "generated_per_question", "generated_total", "accuracy")] == [
        100, 100, 200, 50]
    assert by.loc["cap=400,wait=1", "method"] == "budget_forcing" and by.loc["cap=400,wait=1", "num_wait"] == 1
    vote = by.loc["maj@4"]
    assert vote["method"] == "majority_vote" and vote["samples_per_question"] == 4
    assert (vote["thinking_per_sample"], vote["answer_per_sample"], vote["generated_per_sample"]) == (40, 10, 50)
    # a vote of 4 costs its 4 samples per question; 2 questions -> 400 tokens; the full vote is right on both
    assert (vote["generated_per_question"], vote["generated_total"], vote["accuracy"]) == (200, 400, 100)
    assert set(table["replicates"]) == {1} and set(table["questions"]) == {2}


def test_token_table_averages_training_seeds():
    table = token_table({("m", "e"): {1: samples(40), 2: samples(80)}}).set_index("setting")
    vote = table.loc["maj@4"]
    assert vote["replicates"] == 2 and vote["thinking_per_sample"] == 60  # (40 + 80) / 2
    assert vote["generated_per_question"] == 4 * 70  # (4 * 50 + 4 * 90) / 2
    with pytest.raises(InputFileError, match="training seed 2.*maj@4"):
        df = samples()
        token_table({("m", "e"): {1: df, 2: df[df["setting"] != "maj@4"]}})


def test_interpolation_is_linear_in_log2_tokens():
    # 200 tokens lie halfway between 100 and 400 in log2: halfway between 50 and 100 %
    assert interpolate_log2([100, 400], [50, 100], 200) == (pytest.approx(75.0), "")
    assert interpolate_log2([400, 100], [100, 50], 100) == (50.0, "")  # a point itself, in any order
    # a quarter of the way from 100 to 1600 (log2 6.64 .. 10.64): 200 tokens
    assert interpolate_log2([100, 1600], [0, 100], 200)[0] == pytest.approx(25.0)
    value, note = interpolate_log2([100, 400], [50, 100], 50)
    assert math.isnan(value) and "fewer tokens" in note
    value, note = interpolate_log2([100, 400], [50, 100], 800)
    assert math.isnan(value) and "more tokens" in note
    assert interpolate_log2([100, 100, 400], [40, 60, 100], 100)[0] == 50.0  # equal tokens averaged
    assert math.isnan(interpolate_log2([0], [10], 5)[0])


def test_vote_curve_counts_the_first_k_samples():
    curve = vote_curve({None: samples()}, "maj@4")
    assert curve["point"].tolist() == ["maj@1", "maj@2", "maj@4"]
    assert curve["generated_per_question"].tolist() == [50, 100, 200]
    assert curve["accuracy"].tolist() == [50, 50, 100]


def test_matched_tokens_on_a_hand_computed_case(tmp_path):
    matched = matched_tokens({("m", "e"): samples()})
    assert matched.columns.tolist() == MATCHED_COLUMNS
    par = matched[matched["anchor"] == "parallel"].set_index("point")
    # maj@1 at 50 tokens: below budget forcing's 100..400, no comparison
    assert math.isnan(par.loc["maj@1", "sequential_accuracy"]) and "budget forcing: fewer" in par.loc["maj@1", "note"]
    # maj@2 at 100 tokens = cap=100's: 50 vs 50
    assert (par.loc["maj@2", "sequential_accuracy"], par.loc["maj@2", "difference"]) == (50, 0)
    # maj@4 at 200 tokens: budget forcing halfway (log2) between 50 and 100 % -> 75; 100 - 75 = +25
    assert par.loc["maj@4", "sequential_accuracy"] == pytest.approx(75)
    assert par.loc["maj@4", "difference"] == pytest.approx(25)
    seq = matched[matched["anchor"] == "sequential"].set_index("point")
    assert seq.index.tolist() == ["cap=100", "cap=400"]  # no Waits only
    assert (seq.loc["cap=100", "parallel_accuracy"], seq.loc["cap=100", "difference"]) == (50, 0)
    assert math.isnan(seq.loc["cap=400", "difference"]) and "majority voting: more" in seq.loc["cap=400", "note"]
    assert set(matched["parallel_model"]) == set(matched["sequential_model"]) == {"m"}

    table = token_table({("m", "e"): samples()})
    write_compute(table, matched, md=tmp_path / "c.md", csv=tmp_path / "c.csv", matched_csv=tmp_path / "m.csv")
    assert pd.read_csv(tmp_path / "c.csv").columns.tolist() == TOKEN_COLUMNS
    back = pd.read_csv(tmp_path / "m.csv", keep_default_na=False, na_values=[""])
    assert back["difference"].tolist()[1:3] == pytest.approx([0, 25])
    text = (tmp_path / "c.md").read_text()
    assert "| e | m `maj@4` | m | `maj@4` | 200.0 | 100.0 | 75.0 | +25.0 |  |" in text
    assert "| m | e | `maj@4` | 4 | 1 | 40.0 | 10.0 | 200.0 | 400 | 100.0 |" in text


def test_curves_of_other_models_on_the_same_eval_set_only():
    vote_only = samples()[lambda d: d["method"] == "majority_vote"]
    forcing_only = samples()[lambda d: d["method"] == "budget_forcing"]
    matched = matched_tokens({("base", "e"): vote_only, ("s1k", "e"): forcing_only, ("s1k", "other"): forcing_only})
    pairs = matched[["parallel_model", "sequential_model", "evalset"]].drop_duplicates()
    assert pairs.to_numpy().tolist() == [["base", "s1k", "e"]]
    assert len(matched) == 3 + 2
    assert matched_tokens({("s1k", "e"): forcing_only}).empty


def test_the_report_stages_read_the_samples_files(tmp_path):
    from s1flow.stages.report import run_compute, run_sampling

    path = tmp_path / "samples.parquet"
    samples().to_parquet(path)
    run_compute([("m", "e")], [path], md=tmp_path / "c.md", csv=tmp_path / "c.csv", matched_csv=tmp_path / "m.csv")
    assert len(pd.read_csv(tmp_path / "c.csv")) == 4 and len(pd.read_csv(tmp_path / "m.csv")) == 5
    run_sampling([("m", "e")], [path], n_resamples=50, seed=0, md=tmp_path / "s.md", csv=tmp_path / "s.csv")
    assert pd.read_csv(tmp_path / "s.csv")["n"].tolist() == [1, 2, 4]


def test_a_sampled_setting_counts_the_mean_over_its_samples_a_vote_its_vote():
    # cap=100 sampled 3 times: q1 right in 2 of 3 samples, q2 in 0 of 3 -> (2/3 + 0) / 2 = 33.3 %
    # (a majority vote of the same samples would give 50 %); 3 x 100 generated tokens per question
    rows = [row(q, Forced(cap=100), 90, 10, ok, sample=k, samples_per_question=3)
            for q, oks in (("q1", (True, True, False)), ("q2", (False, False, False))) for k, ok in enumerate(oks)]
    table = token_table({("m", "e"): samples_frame(rows)})
    assert table.loc[0, "accuracy"] == pytest.approx(100 / 3)
    assert table.loc[0, "generated_per_question"] == 300 and table.loc[0, "generated_per_sample"] == 100
