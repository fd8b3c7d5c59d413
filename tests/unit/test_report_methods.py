"""Method comparison: classification of settings, points and hand-computed Control / Scaling / Performance."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import setting_row

from s1flow.errors import InputFileError
from s1flow.generate.setting import Conditional, Forced, Open, Rejection, Vote
from s1flow.generate.sweep import samples_frame
from s1flow.report.methods import (
    METHOD_COLUMNS,
    POINT_COLUMNS,
    method_of,
    method_points,
    method_rows,
    methods_table,
    setting_points,
    vote_counts,
    write_methods,
)
from s1flow.report.replicates import single


def row(qid, setting, budget, tokens, correct, *, sample=0, extracted=None, thinking="t"):
    extracted = extracted if extracted is not None else ("1" if correct else "2")
    return setting_row(setting, qid=qid, budget=budget, sample=sample, thinking=thinking, answer="a",
                       thinking_tokens=tokens, answer_tokens=4, finish="stop", extracted=extracted, correct=correct)


def frame(rows) -> pd.DataFrame:
    return samples_frame(rows)


F, R, V = Forced, Rejection, Vote


def cond(condition, value, cap=256, forced=False):
    return Conditional(condition=condition, condition_value=value, cap=cap, forced=forced)


def table() -> pd.DataFrame:
    rows = [
        # budget forcing. cap=100: tokens (100 + 60) / 2 = 80, 1 of 2 correct = 50 %
        row("q1", F(cap=100), 100, 100, True), row("q2", F(cap=100), 100, 60, False),
        # cap=150: tokens (170 + 150) / 2 = 160 > 150 (over budget), 50 %
        row("q1", F(cap=150), 150, 170, True), row("q2", F(cap=150), 150, 150, False),
        # cap=400: tokens (300 + 340) / 2 = 320, 100 %
        row("q1", F(cap=400), 400, 300, True), row("q2", F(cap=400), 400, 340, True),
        # rejection sampling. rs:cap=200: tokens 120, 50 %; rs:cap=400: tokens 240, 0 %
        row("q1", R(cap=200), 200, 100, True), row("q2", R(cap=200), 200, 140, False),
        row("q1", R(cap=400), 400, 200, False), row("q2", R(cap=400), 400, 280, False),
        # a setting no method claims: the model's own response
        row("q1", Open(cap=512), 512, 10, True), row("q2", Open(cap=512), 512, 10, True),
    ]
    # majority voting over 4 samples of 100 tokens each (gold "1"):
    #   q1 answers 5, 7, 7, 5 with 5 right -> ties go to the first seen answer, 5: right for k = 1, 2, 4
    #   q2 answers 3, 1, 1, 1 with 1 right -> k = 1: 3 wrong; k = 2: tie, 3 first, wrong; k = 4: 1 right
    # accuracy 50, 50, 100 %; compute per question = k * 100 tokens -> 100, 200, 400
    for s, (e1, e2) in enumerate(zip("5775", "3111", strict=True)):
        rows.append(row("q1", V(samples=4), 28000, 100, e1 == "5", sample=s, extracted=e1))
        rows.append(row("q2", V(samples=4), 28000, 100, e2 == "1", sample=s, extracted=e2))
    return frame(rows)


@pytest.mark.parametrize(("setting", "method"), [
    (F(cap=512), "budget forcing"), (F(cap="auto"), "budget forcing"), (F(cap="auto", num_wait=2), "budget forcing"),
    (F(cap=64, min_thinking=8), "budget forcing"), (R(cap=512), "rejection sampling"),
    (V(samples=16), "majority voting"), (V(samples=16, open=True), "majority voting"),
    (cond("tokens", 256), "token-conditional"),
    (cond("tokens", 256, forced=True), "token-conditional + budget forcing"),
    (cond("steps", 8), "step-conditional"), (cond("steps", 8, 800, True), "step-conditional + budget forcing"),
    (cond("class", "long"), "class-conditional"), (cond("class", "short", forced=True), "class-conditional"),
    (Open(cap=256), None),
])
def test_classification(setting, method):
    """Methods come from the typed columns; the label is never read (an unknown label changes nothing)."""
    m = method_of(setting.columns())
    assert (m.name if m else None) == method
    m = method_of({**setting.columns(), "setting": "anything"})
    assert (m.name if m else None) == method


def test_vote_counts():
    assert vote_counts(16) == [1, 2, 4, 8, 16]
    assert vote_counts(12) == [1, 2, 4, 8, 12]
    assert vote_counts(1) == [1]


def test_points():
    pts = setting_points(table(), model="s1k", evalset="aime")
    assert list(pts.columns) == POINT_COLUMNS
    assert pts["setting"].tolist() == ["cap=100", "cap=150", "cap=400", "rs:cap=200", "rs:cap=400",
                                       "maj@1", "maj@2", "maj@4"]
    assert pts["method"].tolist() == ["budget forcing"] * 3 + ["rejection sampling"] * 2 + ["majority voting"] * 3
    assert pts["mean_thinking_tokens"].tolist() == [80, 160, 320, 120, 240, 100, 200, 400]
    assert pts["accuracy"].tolist() == [50, 50, 100, 50, 0, 50, 50, 100]
    assert pts["budget"].tolist()[:5] == [100, 150, 400, 200, 400]
    assert pts["budget"].iloc[5:].isna().all()
    assert set(pts["model"]) == {"s1k"} and set(pts["evalset"]) == {"aime"}


def test_metrics_by_hand():
    out = method_rows(table(), model="s1k", evalset="aime")
    assert list(out.columns) == METHOD_COLUMNS
    assert out["method"].tolist() == ["budget forcing", "rejection sampling", "majority voting"]
    bf, rs, mv = (out.iloc[i] for i in range(3))
    # budget forcing: 80 <= 100, 160 > 150, 320 <= 400 -> control 2/3
    # log2 tokens 80, 160, 320 are 1 apart: slopes (50-50)/1 = 0, (100-50)/2 = 25, (100-50)/1 = 50 -> 25
    # per 1k tokens: 0/0.08 = 0, 50/0.24 = 208.33, 50/0.16 = 312.5 -> 173.61
    assert bf["control"] == pytest.approx(2 / 3)
    assert bf["scaling"] == pytest.approx(25)
    assert bf["scaling_per_1k"] == pytest.approx((0 + 50 / 0.24 + 50 / 0.16) / 3)
    assert (bf["performance"], bf["n_settings"]) == (100, 3)
    # rejection sampling: 120 <= 200, 240 <= 400 -> 1; one doubling 120 -> 240 loses 50 points -> -50;
    # per 1k: -50 / 0.12 = -416.67
    assert (rs["control"], rs["scaling"], rs["performance"], rs["n_settings"]) == (1.0, -50.0, 50.0, 2)
    assert rs["scaling_per_1k"] == pytest.approx(-50 / 0.12)
    # majority voting: no budget -> control NaN; tokens 100, 200, 400 with 50, 50, 100 % -> 25 per doubling;
    # per 1k: 0/0.1 = 0, 50/0.3 = 166.67, 50/0.2 = 250 -> 138.89
    assert math.isnan(mv["control"])
    assert mv["scaling"] == pytest.approx(25)
    assert mv["scaling_per_1k"] == pytest.approx((50 / 0.3 + 50 / 0.2) / 3)
    assert (mv["performance"], mv["n_settings"]) == (100, 3)


def test_table_order_and_writers(tmp_path):
    only_bf = table()[lambda d: d["method"] == "budget_forcing"]
    tables = {("s1k", "aime"): table(), ("base", "aime"): only_bf, ("s1k", "math"): only_bf}
    out = methods_table(single(tables), n_resamples=2000)
    assert out[["evalset", "method", "model"]].values.tolist() == [
        ["aime", "budget forcing", "s1k"], ["aime", "budget forcing", "base"],
        ["aime", "rejection sampling", "s1k"], ["aime", "majority voting", "s1k"],
        ["math", "budget forcing", "s1k"]]
    pts = method_points(single(tables), n_resamples=2000)
    assert len(pts) == 8 + 3 + 3 and pts["evalset"].tolist()[-1] == "math"

    md, csv = tmp_path / "m.md", tmp_path / "m.csv"
    write_methods(out, md=md, csv=csv)
    back = pd.read_csv(csv)
    assert list(back.columns) == METHOD_COLUMNS
    pd.testing.assert_frame_equal(back, out, check_dtype=False)
    text = md.read_text()
    assert text.index("## aime") < text.index("## math")
    bf, rs, mv = (out.iloc[i] for i in (0, 2, 3))
    assert f"| budget forcing | s1k | 67 % | 25.0 [{bf['scaling_low']:.1f}, {bf['scaling_high']:.1f}] | 173.6 " \
           "| 100.0 [100.0, 100.0] | 3 | 1 |" in text  # cap=400: both questions right in every resample
    assert f"| rejection sampling | s1k | 100 % | −50.0 [{rs['scaling_low']:.1f}, {rs['scaling_high']:.1f}] " \
           f"| −416.7 | 50.0 [{rs['performance_low']:.1f}, {rs['performance_high']:.1f}] | 2 | 1 |".replace(
               "-", "−") in text
    assert f"| majority voting | s1k | n/a | 25.0 [{mv['scaling_low']:.1f}, {mv['scaling_high']:.1f}] | 138.9 " in text
    assert (out["performance_low"] <= out["performance"]).all()
    assert (out["performance"] <= out["performance_high"]).all()
    assert (out["scaling_low"] <= out["scaling_high"]).all() and set(out["n_replicates"]) == {1}


def test_majority_voting_needs_its_samples():
    df = table()
    df = df[~((df["setting"] == "maj@4") & (df["qid"] == "q2") & (df["sample"] == 3))]
    with pytest.raises(InputFileError, match="setting 'maj@4' has only 3 samples for question 'q2'"):
        setting_points(df, model="s1k", evalset="aime")


def test_one_majority_setting_per_table():
    df = table()
    extra = df[df["setting"] == "maj@4"].assign(setting="maj@2", samples_per_question=2)[lambda d: d["sample"] < 2]
    with pytest.raises(InputFileError, match=r"several majority-voting settings \['maj@4', 'maj@2'\]"):
        setting_points(pd.concat([df, extra]), model="s1k", evalset="aime")


def test_budget_forcing_without_budget_is_named():
    df = table().astype({"budget": "Int64"})
    df.loc[df["setting"] == "cap=150", "budget"] = pd.NA
    with pytest.raises(InputFileError, match=r"model 's1k' on eval set 'aime', budget forcing: .*\['cap=150'\]"):
        method_rows(df, model="s1k", evalset="aime")


def test_missing_column():
    with pytest.raises(InputFileError, match=r"model 'm' on eval set 'e': missing column\(s\) \['budget'\]"):
        setting_points(table().drop(columns="budget"), model="m", evalset="e")


def crow(qid, setting, budget, tokens, correct, thinking="t"):
    return row(qid, setting, budget, tokens, correct, thinking=thinking)


def test_conditional_methods_by_hand():
    """Control of the conditional methods, measured from the samples (hand-computed):

    tok=64: mean 50 <= 64 -> within; tok=32: mean 40 > 32 -> not: token-conditional control 50 %.
    tok=32,cap=32: mean 30 <= cap 32 -> 100 %.
    steps=2: 3 and 1 markers, mean 2 <= 2 -> within; steps=1: 2 markers > 1 -> not: 50 %.
    class=long: mean 120 >= plain cap=256's 100 -> within; class=short: 110 > 100 -> not: 50 %.
    """
    m = "<|im_start|>{} steps left\n"
    three, one, two = m.format(3) + m.format(2) + m.format(1), m.format(1), m.format(2) + m.format(1)
    rows = [
        crow("q1", cond("tokens", 64), 256, 40, True), crow("q2", cond("tokens", 64), 256, 60, False),
        crow("q1", cond("tokens", 32), 256, 40, True), crow("q2", cond("tokens", 32), 256, 40, True),
        crow("q1", cond("tokens", 32, 32, True), 32, 30, False), crow("q2", cond("tokens", 32, 32, True), 32, 30, True),
        crow("q1", cond("steps", 2), 256, 90, True, three), crow("q2", cond("steps", 2), 256, 30, False, one),
        crow("q1", cond("steps", 1), 256, 60, False, two), crow("q2", cond("steps", 1), 256, 60, False, two),
        crow("q1", F(cap=256), 256, 100, True), crow("q2", F(cap=256), 256, 100, False),
        crow("q1", cond("class", "long"), 256, 140, True), crow("q2", cond("class", "long"), 256, 100, True),
        crow("q1", cond("class", "short"), 256, 100, False), crow("q2", cond("class", "short"), 256, 120, False),
    ]
    got = method_rows(frame(rows), model="m", evalset="e").set_index("method")
    assert got.loc["token-conditional", "control"] == pytest.approx(0.5)
    assert got.loc["token-conditional + budget forcing", "control"] == pytest.approx(1.0)
    assert got.loc["step-conditional", "control"] == pytest.approx(0.5)
    assert got.loc["class-conditional", "control"] == pytest.approx(0.5)
    assert got.loc["budget forcing", "control"] == pytest.approx(1.0)
    # token-conditional: (50 tokens, 50 %) and (40 tokens, 100 %): slope per doubling (50 - 100) / log2(50 / 40)
    assert got.loc["token-conditional", "scaling"] == pytest.approx(-50 / math.log2(50 / 40))
    assert got.loc["token-conditional", "performance"] == pytest.approx(100.0)
    assert got.loc["class-conditional", "n_settings"] == 2
    # without a plain setting at the same cap there is nothing to hold the class prompts to
    no_ref = frame([r for r in rows if r["setting"] != "cap=256"])
    assert math.isnan(method_rows(no_ref, model="m", evalset="e").set_index("method")
                      .loc["class-conditional", "control"])


# --------------------------------------------------------------------------- replicates and intervals


def test_points_are_replicate_means_with_generated_tokens():
    """Training seed 1 gets cap=100 right on q1 only (50 %), seed 2 on both (100 %): the point is 75 %.
    Its thinking is the mean of 80 (seed 1) and 120 (seed 2) = 100; generated adds 4 answer tokens each."""
    seed2 = table()
    at = seed2["setting"] == "cap=100"
    seed2.loc[at, "correct"] = True
    seed2.loc[at, "thinking_tokens"] = seed2.loc[at, "thinking_tokens"] + 40
    pts = setting_points({1: table(), 2: seed2}, model="s1k", evalset="aime", n_resamples=500)
    p = pts.set_index("setting")
    assert p.loc["cap=100", "accuracy"] == 75.0
    assert (p.loc["cap=100", "mean_thinking_tokens"], p.loc["cap=100", "generated_tokens"]) == (100.0, 104.0)
    assert p.loc["cap=400", "accuracy"] == 100.0 and p.loc["cap=400", "generated_tokens"] == 324.0
    # a vote of k samples generates the k samples' tokens: k * (100 + 4)
    assert p.loc[["maj@1", "maj@2", "maj@4"], "generated_tokens"].tolist() == [104.0, 208.0, 416.0]
    assert (pts["acc_low"] <= pts["accuracy"]).all() and (pts["accuracy"] <= pts["acc_high"]).all()
    assert (p.loc["cap=400", "acc_low"], p.loc["cap=400", "acc_high"]) == (100.0, 100.0)


def test_seed_disagreement_widens_a_point_interval():
    """Seed 1 solves every question at cap=100, seed 2 none: 50 % with an interval the question level alone
    would not give (every question looks alike)."""
    rows = [row(q, F(cap=100), 100, 50, True) for q in ("q1", "q2", "q3", "q4")]
    one, two = frame(rows), frame(rows).assign(correct=False, extracted="2")
    p = setting_points({1: one, 2: two}, model="m", evalset="e", n_resamples=2000).iloc[0]
    assert p["accuracy"] == 50.0 and p["acc_low"] < 50.0 < p["acc_high"]
    alone = setting_points(one, model="m", evalset="e", n_resamples=2000).iloc[0]
    assert (alone["acc_low"], alone["acc_high"]) == (100.0, 100.0)


def test_method_intervals_by_hand():
    """Every question behaves alike, so every resample is the same: cap=100 (100 tokens) 0 %, cap=200 (200 tokens)
    100 %: scaling 100 points per doubling and performance 100, both with degenerate intervals."""
    rows = [row(q, F(cap=c), c, c, c == 200) for q in ("q1", "q2", "q3") for c in (100, 200)]
    for reps in ({None: frame(rows)}, {0: frame(rows), 1: frame(rows)}):
        bf = method_rows(reps, model="m", evalset="e", n_resamples=300).iloc[0]
        assert (bf["scaling"], bf["scaling_low"], bf["scaling_high"]) == (100.0, 100.0, 100.0)
        assert (bf["performance"], bf["performance_low"], bf["performance_high"]) == (100.0, 100.0, 100.0)
        assert bf["n_replicates"] == len(reps)


def test_a_sampled_setting_is_the_mean_over_its_samples():
    """avg@n, not a vote: q1 right in 1 of 2 samples, q2 in 2 of 2 -> 75 %."""
    rows = [row(q, F(cap=100), 100, 50, ok, sample=s) for q, oks in (("q1", (True, False)), ("q2", (True, True)))
            for s, ok in enumerate(oks)]
    df = frame(rows).assign(samples_per_question=2)
    assert setting_points(df, model="m", evalset="e", n_resamples=100)["accuracy"].tolist() == [75.0]


def test_a_replicate_with_other_questions_is_named():
    other = table().replace({"qid": {"q2": "q9"}})
    with pytest.raises(InputFileError, match=r"model 's1k' on eval set 'aime' \(training seed 7\): setting 'cap=100' "
                                             r"has other questions"):
        method_points({("s1k", "aime"): {3: table(), 7: other}}, n_resamples=10)
