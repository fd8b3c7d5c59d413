"""Paired bootstrap: determinism, pairing, hand-checkable intervals and input errors."""

from __future__ import annotations

import numpy as np
import pytest

from s1flow.report.bootstrap import BootstrapResult, paired_bootstrap


def test_same_seed_same_result_and_seed_matters():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 60), rng.integers(0, 2, 60)
    first = paired_bootstrap(a, b, n_resamples=2000, seed=7)
    assert paired_bootstrap(a, b, n_resamples=2000, seed=7) == first
    assert paired_bootstrap(a, b, n_resamples=2000, seed=8) != first
    assert isinstance(first, BootstrapResult) and first.n == 60


def test_identical_arrays_have_a_zero_delta_interval():
    a = [1, 0, 1, 1, 0, 0, 1, 0]
    res = paired_bootstrap(a, a, n_resamples=1000, seed=0)
    assert (res.delta, res.delta_low, res.delta_high) == (0.0, 0.0, 0.0)
    assert res.accuracy == 50.0 and res.low < 50.0 < res.high


def test_constant_arrays_give_degenerate_intervals():
    # every resample of all-correct vs all-wrong has accuracy 100 and difference 100 - 0 = 100
    res = paired_bootstrap(np.ones(5), np.zeros(5), n_resamples=500, seed=3)
    assert res == BootstrapResult(accuracy=100.0, low=100.0, high=100.0, delta=100.0, delta_low=100.0,
                                  delta_high=100.0, n=5)


def test_two_questions_by_hand():
    # correct = [1, 0]: a resample's accuracy is 0, 50 or 100 with probabilities 1/4, 1/2, 1/4, so the
    # 2.5th percentile is 0 and the 97.5th is 100; the reference is all wrong, so delta = accuracy.
    res = paired_bootstrap([True, False], [False, False], n_resamples=10_000, seed=0)
    assert (res.accuracy, res.low, res.high) == (50.0, 0.0, 100.0)
    assert (res.delta, res.delta_low, res.delta_high) == (50.0, 0.0, 100.0)


def test_matches_an_explicit_paired_resampling():
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 2, 40).astype(float), rng.integers(0, 2, 40).astype(float)
    res = paired_bootstrap(a, b, n_resamples=3000, seed=11, confidence=0.9)
    idx = np.random.default_rng(11).integers(0, 40, size=(3000, 40))  # one index matrix for both arrays
    acc, diff = a[idx].mean(axis=1) * 100, (a[idx] - b[idx]).mean(axis=1) * 100
    assert res.low == pytest.approx(np.percentile(acc, 5)) and res.high == pytest.approx(np.percentile(acc, 95))
    assert res.delta_low == pytest.approx(np.percentile(diff, 5))
    assert res.delta_high == pytest.approx(np.percentile(diff, 95))
    assert res.delta == pytest.approx((a.mean() - b.mean()) * 100)


def test_interval_width_matches_the_normal_approximation():
    # 200 of 400 correct: standard error sqrt(.5 * .5 / 400) = 2.5 points, 95 % half-width 1.96 * 2.5 = 4.9
    a = np.array([1, 0] * 200)
    res = paired_bootstrap(a, np.zeros(400), seed=0)
    assert res.accuracy == 50.0
    assert res.low == pytest.approx(45.1, abs=0.6) and res.high == pytest.approx(54.9, abs=0.6)
    assert res.low <= res.accuracy <= res.high and res.delta_low <= res.delta <= res.delta_high


@pytest.mark.parametrize(("a", "b", "match"), [
    ([1, 0], [1], "2 questions but reference has 1"),
    ([], [], "no questions"),
    ([1, 2], [0, 1], "0/1"),
])
def test_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap(a, b, seed=0)


def test_bad_parameters():
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap([1], [0], n_resamples=0, seed=0)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([1], [0], seed=0, confidence=95)
