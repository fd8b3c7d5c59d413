"""The nested bootstrap over questions, training seeds and samples (s1flow.report.bootstrap)."""

from __future__ import annotations

import numpy as np
import pytest

from s1flow.report.bootstrap import (
    as_cube,
    cube_mean,
    detectable_difference,
    nested_bootstrap_means,
    paired_bootstrap,
    percentile_interval,
)


def test_one_seed_one_sample_is_the_paired_question_bootstrap():
    # with a single training seed and sample the nested bootstrap draws only questions, with the same
    # generator calls as paired_bootstrap: the same resamples, hence the same intervals
    a = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1], dtype=float)
    b = np.array([1, 1, 1, 0, 0, 1, 1, 0, 1, 1], dtype=float)
    r = nested_bootstrap_means({"a": a, "b": b}, n_resamples=4000, seed=7)
    ref = paired_bootstrap(a, b, n_resamples=4000, seed=7)
    low, high = percentile_interval(r["a"])
    assert (low * 100, high * 100) == pytest.approx((ref.low, ref.high))
    d_low, d_high = percentile_interval(r["a"] - r["b"])
    assert (d_low * 100, d_high * 100) == pytest.approx((ref.delta_low, ref.delta_high))


def test_identical_replicated_arrays_are_paired_on_every_level():
    rng = np.random.default_rng(3)
    cube = rng.integers(0, 2, size=(12, 3, 4)).astype(float)
    r = nested_bootstrap_means({"a": cube, "b": cube.copy()}, n_resamples=500, seed=1)
    assert np.array_equal(r["a"], r["b"])  # same question, seed and sample positions in every resample


def test_seed_variation_widens_the_interval_where_questions_alone_see_none():
    # every question is solved by training seed 0 and missed by seed 1: question resampling alone
    # gives a zero-width interval around 50 %; resampling seeds within questions does not
    cube = np.tile(np.array([1.0, 0.0])[None, :, None], (20, 1, 1))
    r = nested_bootstrap_means({"m": cube}, n_resamples=4000, seed=0)
    assert cube_mean(cube) == 0.5
    low, high = percentile_interval(r["m"])
    assert low < 0.5 < high
    # 40 seed draws of a fair coin: the mean's standard error is sqrt(0.25 / 40) = 0.079
    assert np.std(r["m"]) == pytest.approx(np.sqrt(0.25 / 40), rel=0.1)


def test_a_single_seed_array_is_constant_on_the_seed_level():
    # a base model (one seed) against a model with three seeds: the base only moves with the questions
    base = np.ones(8)
    tuned = np.zeros((8, 3, 1))
    tuned[:, 0] = 1
    r = nested_bootstrap_means({"base": base, "tuned": tuned}, n_resamples=300, seed=2)
    assert np.all(r["base"] == 1.0)
    assert 0 < r["tuned"].mean() < 1


def test_sample_level_resampling_matches_the_binomial_error():
    # one question, one seed, 400 samples half right: the sample level alone gives sqrt(p(1-p)/K)
    cube = np.zeros((1, 1, 400))
    cube[0, 0, ::2] = 1
    r = nested_bootstrap_means({"m": cube}, n_resamples=4000, seed=5)
    assert np.std(r["m"]) == pytest.approx(np.sqrt(0.25 / 400), rel=0.1)


def test_detectable_difference_is_2_8_standard_errors():
    values = np.array([0.0, 0.1, 0.2, 0.3])
    assert detectable_difference(values) == pytest.approx(2.8 * np.std(values, ddof=1))


def test_bad_arrays_are_errors_naming_them():
    with pytest.raises(ValueError, match="different numbers of questions"):
        nested_bootstrap_means({"a": np.ones(3), "b": np.ones(4)}, n_resamples=10, seed=0)
    with pytest.raises(ValueError, match="x has missing"):
        as_cube([1.0, float("nan")], "x")
    with pytest.raises(ValueError, match="non-empty"):
        as_cube(np.ones((0, 2)), "y")
    with pytest.raises(ValueError, match="no arrays"):
        nested_bootstrap_means({}, n_resamples=10, seed=0)
