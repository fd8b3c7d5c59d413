"""Paired bootstrap confidence intervals for per-question accuracy (the paper's 95 %, 10,000 resamples)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Resampled index matrices are built in chunks of at most this many cells (memory bound).
_CHUNK_CELLS = 20_000_000


@dataclass(frozen=True)
class BootstrapResult:
    """Accuracy of one system with its interval, and its paired difference to a reference (all in percent)."""

    accuracy: float
    low: float
    high: float
    delta: float
    delta_low: float
    delta_high: float
    n: int


def _as_01(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"paired_bootstrap: {name} must be one-dimensional, got shape {arr.shape}")
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"paired_bootstrap: {name} must hold 0/1 (or booleans) per question")
    return arr


def paired_bootstrap(correct: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray, *,
                     n_resamples: int = 10_000, seed: int, confidence: float = 0.95) -> BootstrapResult:
    """Accuracy of `correct` with a percentile interval, and its difference to `reference`.

    Both arrays hold 0/1 per question, aligned on the same questions. Each resample draws
    question indices with replacement (``numpy.random.default_rng(seed)``) and applies the
    same indices to both arrays, so the difference interval is paired. Percent (0-100);
    the same inputs and seed give the same result.
    """
    a, b = _as_01(correct, "correct"), _as_01(reference, "reference")
    if len(a) != len(b):
        raise ValueError(f"paired_bootstrap: correct has {len(a)} questions but reference has {len(b)}")
    if len(a) == 0:
        raise ValueError("paired_bootstrap: no questions to resample")
    if n_resamples < 1:
        raise ValueError(f"paired_bootstrap: n_resamples must be >= 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"paired_bootstrap: confidence must lie in (0, 1), got {confidence}")
    n = len(a)
    rng = np.random.default_rng(seed)
    acc = np.empty(n_resamples)
    diff = np.empty(n_resamples)
    step = max(1, _CHUNK_CELLS // n)
    for start in range(0, n_resamples, step):
        rows = min(step, n_resamples - start)
        idx = rng.integers(0, n, size=(rows, n))
        acc_a, acc_b = a[idx].mean(axis=1), b[idx].mean(axis=1)
        acc[start:start + rows] = acc_a
        diff[start:start + rows] = acc_a - acc_b
    tail = (1 - confidence) / 2 * 100
    q = (tail, 100 - tail)
    low, high = np.percentile(acc, q)
    d_low, d_high = np.percentile(diff, q)
    return BootstrapResult(
        accuracy=float(a.mean() * 100), low=float(low * 100), high=float(high * 100),
        delta=float((a.mean() - b.mean()) * 100), delta_low=float(d_low * 100), delta_high=float(d_high * 100),
        n=n,
    )
