"""The paper's test-time scaling metrics (section 3.2 / Table 3): Control, Scaling, Performance.

For a method evaluated at settings A, with f(a) the accuracy at setting a plotted against
the measured compute x(a) (average thinking tokens, or a transform of it):

- Control: the share of settings whose measured thinking tokens lie within [minimum, budget].
- Scaling: the mean slope (f(b) - f(a)) / (x(b) - x(a)) over all pairs a < b.
- Performance: the best accuracy, max f(a).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from s1flow.errors import InputFileError

Numbers = Sequence[float | None] | np.ndarray | pd.Series


def _floats(values: Numbers) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce"), dtype=float)


def _labels(values: Numbers, settings: Sequence[str] | None) -> list[str]:
    if settings is not None:
        return [str(s) for s in settings]
    if isinstance(values, pd.Series):
        return [str(s) for s in values.index]
    return [f"#{i}" for i in range(len(values))]


def control(budgets: Numbers, thinking_tokens: Numbers, *, minimum: float | None = None,
            settings: Sequence[str] | None = None) -> float:
    """Fraction (0-1) of settings whose mean thinking tokens lie within [`minimum`, budget].

    `budgets` and `thinking_tokens` hold one value per setting (the cap and the measured
    mean). A setting without a budget is an error naming it (from `settings`, else the
    index of a Series, else its position).
    """
    b, t = _floats(budgets), _floats(thinking_tokens)
    if len(b) != len(t):
        raise ValueError(f"control: {len(b)} budgets but {len(t)} thinking-token values")
    if len(b) == 0:
        raise ValueError("control: no settings")
    labels = _labels(budgets, settings)
    missing = [labels[i] for i in np.flatnonzero(np.isnan(b))]
    if missing:
        raise InputFileError(f"control: setting(s) {missing} have no budget; control needs a thinking cap per setting")
    if np.isnan(t).any():
        bad = [labels[i] for i in np.flatnonzero(np.isnan(t))]
        raise InputFileError(f"control: setting(s) {bad} have no measured thinking tokens")
    lo = -math.inf if minimum is None else float(minimum)
    return float(np.mean((t >= lo) & (t <= b)))


def scaling(x: Numbers, accuracy: Numbers) -> float:
    """Mean slope (f(b) - f(a)) / (x_b - x_a) over all pairs of settings with x_a < x_b.

    Pairs with equal x are skipped; with fewer than two distinct x the result is NaN. The
    unit is accuracy's unit per unit of x (e.g. points per doubling when x is log2 tokens).
    """
    xs, fs = _floats(x), _floats(accuracy)
    if len(xs) != len(fs):
        raise ValueError(f"scaling: {len(xs)} x values but {len(fs)} accuracies")
    if not (np.isfinite(xs).all() and np.isfinite(fs).all()):
        raise ValueError("scaling: x and accuracy must be finite numbers")
    slopes = [(fs[j] - fs[i]) / (xs[j] - xs[i])
              for i, j in itertools.combinations(range(len(xs)), 2) if xs[i] != xs[j]]
    return float(np.mean(slopes)) if slopes else math.nan


def performance(accuracy: Numbers) -> float:
    """The best accuracy over the settings (NaN when there are none)."""
    fs = _floats(accuracy)
    fs = fs[~np.isnan(fs)]
    return float(fs.max()) if len(fs) else math.nan
