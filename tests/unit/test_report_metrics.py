"""Control, Scaling and Performance on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from s1flow.errors import InputFileError
from s1flow.report.metrics import control, performance, scaling


def test_control_counts_settings_within_their_budget():
    # 500 <= 512 yes, 1100 <= 1024 no, 2048 <= 2048 yes -> 2 of 3
    assert control([512, 1024, 2048], [500, 1100, 2048]) == pytest.approx(2 / 3)
    # with a minimum of 600: 500 is below it, 1100 above its budget, only 2048 counts -> 1 of 3
    assert control([512, 1024, 2048], [500, 1100, 2048], minimum=600) == pytest.approx(1 / 3)
    assert control(np.array([100.0]), np.array([99.5])) == 1.0


def test_control_names_a_setting_without_budget():
    budgets = pd.Series([512, None], index=["cap=512", "maj@16"])
    with pytest.raises(InputFileError, match=r"\['maj@16'\] have no budget"):
        control(budgets, [400, 300])
    with pytest.raises(InputFileError, match=r"\['b'\] have no budget"):
        control([1, float("nan")], [1, 1], settings=["a", "b"])
    with pytest.raises(ValueError, match="2 budgets but 1"):
        control([1, 2], [1])


def test_scaling_is_the_mean_pairwise_slope():
    # slopes: (1,2) -> 10/1, (1,4) -> 30/3, (2,4) -> 20/2; all 10
    assert scaling([1, 2, 4], [10, 20, 40]) == pytest.approx(10)
    # (1,2) -> (30-10)/1 = 20, (1,3) -> (20-10)/2 = 5, (2,3) -> (20-30)/1 = -10; mean 15/3 = 5
    assert scaling([1, 2, 3], [10, 30, 20]) == pytest.approx(5)
    # order of the settings does not matter: pairs are ordered by x
    assert scaling([3, 1, 2], [20, 10, 30]) == pytest.approx(5)


def test_scaling_skips_pairs_with_equal_x():
    # (1a,1b) skipped; (1a,2) -> (20-0)/1 = 20, (1b,2) -> (20-10)/1 = 10; mean 15
    assert scaling([1, 1, 2], [0, 10, 20]) == pytest.approx(15)
    assert math.isnan(scaling([5, 5], [1, 2]))
    assert math.isnan(scaling([5], [1]))
    with pytest.raises(ValueError, match="finite"):
        scaling([1, float("-inf")], [1, 2])


def test_performance_is_the_best_accuracy():
    assert performance([40.0, 56.7, 50.0]) == 56.7
    assert math.isnan(performance([]))
