import hashlib

import numpy as np
import pandas as pd
import pytest

from s1flow.curate.pool import question_hash
from s1flow.curate.select import (
    SUBSETS,
    BenchmarkSources,
    SelectionSettings,
    benchmark_weights,
    filter_steps,
    funnel,
    preselect_mask,
    select_subset,
)
from s1flow.io import write_parquet


def make_features(n=600, seed=0, with_correct=True):
    rng = np.random.default_rng(seed)
    domains = [f"d{i}" for i in range(12)]
    sources = rng.choice(["qq8933/AIME_1983_2024", "Idavidrein/gpqa", "simplescaling/openaimath", "other"],
                         size=n, p=[0.1, 0.1, 0.3, 0.5])
    questions = [f"question number {i} about {rng.integers(1e9)}" for i in range(n)]
    df = pd.DataFrame({
        "qhash": [question_hash(q) for q in questions],
        "question": questions,
        "solution": "42",
        "cot_type": "math",
        "source": sources,
        "metadata": "{}",
        "domain": rng.choice(domains, size=n),
        "trace": "t",
        "attempt": "a",
        "trace_tokens": pd.array(rng.integers(100, 9000, size=n), dtype="Int64"),
        "teacher_correct": pd.array(rng.random(n) < 0.7, dtype="boolean"),
        "quality_ok": rng.random(n) < 0.9,
    })
    if with_correct:
        df["correct_small"] = pd.array(rng.random(n) < 0.3, dtype="boolean")
        df["correct_big"] = pd.array(rng.random(n) < 0.4, dtype="boolean")
    df.loc[[3, 7], "domain"] = None
    return df


def test_filter_steps_follow_the_notebook_order():
    df = make_features()
    stages, steps = filter_steps(df)
    assert [s["step"] for s in steps] == ["pool", "na_drop", "quality", "difficulty"]
    assert steps[1]["count"] == len(df) - 2
    q = stages["quality"]
    assert q["quality_ok"].all()
    hard = stages["difficulty"]
    assert not (hard["correct_small"] | hard["correct_big"]).any()
    assert steps[3]["columns"] == ["correct_small", "correct_big"]


def test_difficulty_step_is_skipped_without_models():
    _, steps = filter_steps(make_features(with_correct=False))
    assert steps[3]["skipped"] is True and "no difficulty models" in steps[3]["reason"]
    assert steps[3]["count"] == steps[2]["count"]


def test_columns_null_everywhere_are_unavailable_not_fatal():
    df = make_features(with_correct=False)
    df["teacher_correct"] = pd.array([pd.NA] * len(df), dtype="boolean")
    stages, steps = filter_steps(df)
    assert "teacher_correct" in steps[1]["unavailable"]
    assert len(stages["na_drop"]) == len(df) - 2
    sub, details = select_subset(df, "s1k", SelectionSettings(size=50, seed=1))
    assert details["preselected"] == 0 and "skipped" in details["preselection"]
    assert len(sub) == 50


def test_s1k_preselects_benchmark_questions():
    df = make_features()
    settings = SelectionSettings(size=120, seed=3)
    sub, details = select_subset(df, "s1k", settings)
    hard = filter_steps(df)[0]["difficulty"]
    src = hard["source"]
    expected = hard[hard["teacher_correct"].astype(bool) & (src.str.contains("AIME|gpqa")
                    | (src.str.contains("openaimath") & (hard["trace_tokens"] > 5600)))]
    assert details["preselected"] == len(expected)
    assert set(expected["qhash"]) <= set(sub["qhash"])
    assert len(sub) == 120 and sub["qhash"].is_unique
    assert set(sub["qhash"]) <= set(hard["qhash"])
    assert details["benchmark_weighted_draws"] > 0


def test_s1k_rank_weighting_prefers_long_traces():
    # one domain, no preselection: the first pick is the longest with probability 1/2
    n = 40
    df = make_features(n=n, with_correct=False)
    df["domain"], df["source"], df["quality_ok"] = "only", "other", True
    firsts = []
    for seed in range(400):
        sub, _ = select_subset(df, "s1k", SelectionSettings(size=1, seed=seed))
        firsts.append(int(sub["trace_tokens"].iloc[0]))
    longest = int(df["trace_tokens"].max())
    second = int(np.sort(df["trace_tokens"].to_numpy())[-2])
    share = np.mean(np.array(firsts) == longest)
    share2 = np.mean(np.array(firsts) == second)
    assert 0.42 < share < 0.58 and 0.18 < share2 < 0.32


def test_paper_variant_is_uniform_throughout():
    df = make_features()
    _, details = select_subset(df, "s1k", SelectionSettings(size=100, seed=0, algorithm="paper"))
    assert details["benchmark_weighted_draws"] == 0


def test_selection_stops_when_domains_run_dry():
    df = make_features(n=60)
    sub, _ = select_subset(df, "s1k", SelectionSettings(size=1000, seed=0))
    assert len(sub) == len(filter_steps(df)[0]["difficulty"])


AIME, GPQA = "qq8933/AIME_1983_2024", "Idavidrein/gpqa"


def tiny_pool(rows):
    """Feature rows that pass the NA and quality steps: (source, domain, trace_tokens, teacher_correct[, solved])."""
    questions = [f"tiny question {i}" for i in range(len(rows))]
    df = pd.DataFrame({
        "qhash": [question_hash(q) for q in questions],
        "question": questions,
        "solution": "42",
        "cot_type": "math",
        "source": [r[0] for r in rows],
        "metadata": "{}",
        "domain": [r[1] for r in rows],
        "trace": "t",
        "attempt": "a",
        "trace_tokens": pd.array([r[2] for r in rows], dtype="Int64"),
        "teacher_correct": pd.array([r[3] for r in rows], dtype="boolean"),
        "quality_ok": True,
    })
    df["correct_small"] = pd.array([bool(r[4]) if len(r) > 4 else False for r in rows], dtype="boolean")
    return df


def test_benchmark_weights_scale_gpqa_to_half_of_aime():
    # n_aime = 4, n_gpqa = 2: factor 0.5 * 4 / 2 = 1, so a: 3, b: 1 + 1, c: 1, over 6
    df = pd.DataFrame({"source": [AIME] * 4 + [GPQA] * 2, "domain": ["a", "a", "a", "b", "b", "c"]})
    w = benchmark_weights(df, BenchmarkSources())
    assert w == pytest.approx({"a": 3 / 6, "b": 2 / 6, "c": 1 / 6})


def test_benchmark_weights_truncate_scaled_gpqa_counts():
    # n_aime = 3, n_gpqa = 4: factor 0.375. GPQA c: int(3 * 0.375) = 1, e: int(0.375) = 0 (dropped),
    # a: 2 + int(0.375) = 2; b: 1. Total 4. Without int(): a 2.375, b 1, c 1.125, e 0.375.
    rows = [(AIME, "a", 100, False), (AIME, "a", 100, False), (AIME, "b", 100, False),
            (GPQA, "c", 100, False), (GPQA, "c", 100, False), (GPQA, "c", 100, False), (GPQA, "e", 100, False)]
    df = tiny_pool(rows)
    assert (df["source"] == GPQA).sum() == 4 and (df["source"] == AIME).sum() == 3
    assert benchmark_weights(df, BenchmarkSources()) == pytest.approx({"a": 2 / 4, "b": 1 / 4, "c": 1 / 4})


def test_benchmark_weights_come_from_the_post_difficulty_pool_by_exact_source():
    rows = [(AIME, "a", 100, False), (AIME, "a", 100, False), (AIME, "b", 100, False),
            (GPQA, "c", 100, False), (GPQA, "c", 100, False), (GPQA, "c", 100, False), (GPQA, "e", 100, False),
            # answered by a difficulty model: gone before the weights are counted
            (AIME, "z", 100, False, True), (GPQA, "z", 100, False, True),
            # not s1's exact source names: not counted
            ("qq8933/AIME_1983_2024_mirror", "y", 100, False), ("other/gpqa", "y", 100, False),
            ("other", "x", 100, False)]
    _, details = select_subset(tiny_pool(rows), "s1k", SelectionSettings(size=3, seed=0))
    assert details["benchmark_domains"] == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25})


def test_preselection_matches_aime_and_gpqa_exactly_and_openaimath_as_substring():
    rows = [(AIME, "a", 100, True), (GPQA, "a", 100, True), (AIME, "a", 100, False),
            ("qq8933/AIME_1983_2024_mirror", "a", 100, True), ("mirror/Idavidrein/gpqa", "a", 100, True),
            ("qfq/openaimath/Algebra", "a", 5601, True), ("qfq/openaimath/Algebra", "a", 5600, True),
            ("qfq/openaimath/Algebra", "a", 9000, False), ("other", "a", 9000, True)]
    df = tiny_pool(rows)
    assert preselect_mask(df, BenchmarkSources()).tolist() == [True, True, False, False, False,
                                                               True, False, False, False]


def test_notebook_draw_of_a_preselected_question_is_spent():
    # Domain p holds only preselected questions and is the only benchmark domain. With
    # uniform_fraction 0 every draw is benchmark-weighted, so the first two draws must land
    # in p and be spent; p is then empty and the remaining 3 picks fall back to uniform.
    rows = [(AIME, "p", 900, True), (AIME, "p", 800, True)] + [("other", "q", 100 + i, False) for i in range(5)]
    df = tiny_pool(rows)
    sub, details = select_subset(df, "s1k", SelectionSettings(size=5, seed=4, uniform_fraction=0.0))
    assert details["preselected"] == 2
    assert details["benchmark_weighted_draws"] == 2 and details["spent_draws"] == 2
    assert details["uniform_fallback_draws"] == 3
    assert len(sub) == 5 and sub["qhash"].is_unique
    assert set(df["qhash"].iloc[:2]) <= set(sub["qhash"])


def test_notebook_uniform_phase_counts_preselected_questions():
    # Benchmark weights {a: 1} (two AIME rows, no GPQA). size 4 with uniform_fraction 0.5:
    # the uniform phase lasts while fewer than 2 are selected, and the 2 preselected AIME
    # questions already count, so every draw is benchmark-weighted and lands in a: the
    # selection is a's 4 questions for every seed (draws on the 2 preselected are spent).
    rows = ([(AIME, "a", 900, True), (AIME, "a", 800, True), ("other", "a", 300, False), ("other", "a", 200, False)]
            + [("other", "c", 1000 + i, False) for i in range(10)])
    df = tiny_pool(rows)
    for seed in range(20):
        sub, details = select_subset(df, "s1k", SelectionSettings(size=4, seed=seed, uniform_fraction=0.5))
        assert details["uniform_until"] == 2 and details["preselected"] == 2
        assert set(sub["qhash"]) == set(df["qhash"].iloc[:4])
        assert details["benchmark_weighted_draws"] == 2 + details["spent_draws"]
    # with the whole run uniform, c's 10 questions get drawn
    subs = [select_subset(df, "s1k", SelectionSettings(size=4, seed=seed, uniform_fraction=1.0))[0]
            for seed in range(20)]
    assert any("c" in set(sub["domain"]) for sub in subs)
    # s1's 700 of 1000
    assert select_subset(df, "s1k", SelectionSettings(size=1000, seed=0))[1]["uniform_until"] == 700


def test_notebook_preselected_questions_stay_in_their_domain_pool():
    # Preselected L (longest) and S share domain q; R is alone in r; one more pick wanted.
    # A uniform domain draw: r (1/2) adds R; q (1/2) draws L (2/3, spent) or S (1/3). After a
    # spent draw, q holds only S and the next uniform draw adds S or R. So P(S) =
    # 1/2 * (1/3 + 2/3 * 1/2) = 1/3 (1/2 if L had been taken out of q's pool).
    rows = [(AIME, "q", 900, True), ("other", "q", 100, False), ("other", "r", 500, False)]
    df = tiny_pool(rows)
    s_hash = df["qhash"].iloc[1]
    hits = []
    for seed in range(400):
        sub, _ = select_subset(df, "s1k", SelectionSettings(size=2, seed=seed, uniform_fraction=1.0))
        assert len(sub) == 2 and df["qhash"].iloc[0] in set(sub["qhash"])
        hits.append(s_hash in set(sub["qhash"]))
    assert 0.25 < np.mean(hits) < 0.42


def test_notebook_benchmark_phase_renormalises_over_remaining_benchmark_domains():
    # Benchmark weights a: 2/3, b: 1/3 (no preselection: teacher wrong). Every draw is
    # benchmark-weighted; a empties after two picks and b then takes all the weight, so c
    # (no benchmark weight) is never drawn while a and b hold 12 >= 8 questions.
    rows = ([(AIME, "a", 100 + i, False) for i in range(2)] + [(AIME, "b", 300, False)]
            + [("other", "b", 200 + i, False) for i in range(9)] + [("other", "c", 900 + i, False) for i in range(10)])
    for seed in range(20):
        sub, details = select_subset(tiny_pool(rows), "s1k", SelectionSettings(size=8, seed=seed, uniform_fraction=0))
        assert details["benchmark_domains"] == pytest.approx({"a": 2 / 3, "b": 1 / 3})
        assert details["benchmark_weighted_draws"] == 8 and details["uniform_fallback_draws"] == 0
        assert len(sub) == 8 and "c" not in set(sub["domain"])


def test_notebook_s1k_has_the_target_size_without_duplicates():
    df = make_features(n=800, seed=2)
    assert len(filter_steps(df)[0]["difficulty"]) > 250
    for size in (60, 150, 250):
        sub, details = select_subset(df, "s1k", SelectionSettings(size=size, seed=size))
        assert len(sub) == size and sub["qhash"].is_unique
    # a big preselection leaves few picks, and the pools still hold every preselected question
    hard = filter_steps(df)[0]["difficulty"]
    pre = hard[preselect_mask(hard.reset_index(drop=True), BenchmarkSources())]
    spent = 0
    for seed in range(10):
        sub, details = select_subset(df, "s1k", SelectionSettings(size=len(pre) + 20, seed=seed))
        assert len(sub) == len(pre) + 20 and sub["qhash"].is_unique and set(pre["qhash"]) <= set(sub["qhash"])
        spent += details["spent_draws"]
    assert spent > 0


def test_ablation_subsets():
    df = make_features()
    s = SelectionSettings(size=100, seed=5)
    quality = filter_steps(df)[0]["quality"]
    rnd, _ = select_subset(df, "random", s)
    assert len(rnd) == 100 and set(rnd["qhash"]) <= set(quality["qhash"])
    longest, _ = select_subset(df, "longest", s)
    assert longest["trace_tokens"].min() >= quality["trace_tokens"].sort_values().iloc[-100]
    diverse, _ = select_subset(df, "diverse", s)
    assert len(diverse) == 100 and diverse["domain"].nunique() == quality["domain"].nunique()
    counts = diverse["domain"].value_counts()
    assert counts.min() >= 1
    full, _ = select_subset(df, "full", s)
    assert len(full) == len(df)


def test_same_seed_gives_byte_identical_parquet(tmp_path):
    df = make_features()
    digests = {}
    for name in SUBSETS:
        for k in range(2):
            sub, _ = select_subset(df, name, SelectionSettings(size=80, seed=11))
            write_parquet(sub, tmp_path / f"{name}{k}.parquet")
        a, b = ((tmp_path / f"{name}{k}.parquet").read_bytes() for k in range(2))
        assert a == b
        digests[name] = hashlib.sha256(a).hexdigest()
    other, _ = select_subset(df, "s1k", SelectionSettings(size=80, seed=12))
    first, _ = select_subset(df, "s1k", SelectionSettings(size=80, seed=11))
    assert set(other["qhash"]) != set(first["qhash"])


def test_funnel_reports_counts_domains_and_seed():
    df = make_features()
    s = SelectionSettings(size=50, seed=9)
    subsets, details = {}, {}
    for name in SUBSETS:
        subsets[name], details[name] = select_subset(df, name, s)
    f = funnel(df, subsets, s, details)
    assert f["seed"] == 9 and f["size"] == 50
    assert f["subsets"]["s1k"]["count"] == 50
    assert f["subsets"]["s1k"]["domains"] == subsets["s1k"]["domain"].nunique()
    assert f["steps"][0]["count"] == len(df)
