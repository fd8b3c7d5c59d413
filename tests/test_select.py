import hashlib

import numpy as np
import pandas as pd
import pytest

from s1flow.io import write_parquet
from s1flow.pool import question_hash
from s1flow.select import (
    SUBSETS,
    BenchmarkSources,
    SelectionSettings,
    benchmark_weights,
    filter_steps,
    funnel,
    select_subset,
)


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


def test_benchmark_weights_scale_gpqa_to_half_of_aime():
    df = pd.DataFrame({"source": ["AIME"] * 4 + ["gpqa"] * 2, "domain": ["a", "a", "a", "b", "b", "c"]})
    w = benchmark_weights(df, BenchmarkSources())
    assert w == {"a": 3.0, "b": 1.0 + 1.0, "c": 1.0}
    assert sum(v for k, v in w.items()) == pytest.approx(4 + 0.5 * 4)


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
