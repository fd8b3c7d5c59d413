"""Paired bootstrap confidence intervals for per-question accuracy (the paper's 95 %, 10,000 resamples)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


# --------------------------------------------------------------------------- nested (replicated) bootstrap

#: a replicated measurement: one value per (question, training seed, sample), shape (Q, S, K)
Cube = np.ndarray


def as_cube(values: Sequence[float] | np.ndarray, name: str = "values") -> Cube:
    """`values` as a float (questions, training seeds, samples) array: 1-D is one seed and one sample per
    question, 2-D one sample per (question, seed). No NaN: every cell is a measurement."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None, None]
    elif arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(f"nested bootstrap: {name} must be a non-empty (questions, seeds, samples) array, "
                         f"got shape {np.shape(values)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"nested bootstrap: {name} has missing or infinite cells")
    return arr


def cube_mean(cube: Cube) -> float:
    """The replicate mean: over questions of the mean over training seeds of the mean over samples."""
    return float(np.asarray(cube, dtype=float).mean())


def nested_bootstrap_means(values: Mapping[str, Sequence[float] | np.ndarray], *, n_resamples: int = 10_000,
                           seed: int) -> dict[str, np.ndarray]:
    """Resampled means of several aligned replicated measurements, `n_resamples` each.

    Every array in `values` has one row per question, in the same question order (a 1-D array
    is one training seed and one sample per question; see :func:`as_cube`). One resample draws
    Q questions with replacement, then for each drawn question S training seeds with
    replacement, then for each drawn (question, seed) K samples with replacement, and takes the
    mean of the drawn cells (the three levels of a nested bootstrap: questions, training seeds,
    sampling seeds). The draws are shared by all arrays: a question, seed or sample position
    is drawn as a uniform number u and read as ``floor(u * S)`` (``floor(u * K)``), so arrays with
    the same number of seeds (samples) get the same positions and their differences are
    paired on all three levels, while an array with one seed (e.g. a model that is not
    fine-tuned) is simply constant on that level. ``numpy.random.default_rng(seed)``: the
    same inputs and seed give the same resamples. Returns name -> array of `n_resamples` means
    (fractions, in the unit of the values).
    """
    cubes = {name: as_cube(v, name) for name, v in values.items()}
    if not cubes:
        raise ValueError("nested bootstrap: no arrays to resample")
    qs = {c.shape[0] for c in cubes.values()}
    if len(qs) != 1:
        raise ValueError(f"nested bootstrap: arrays hold different numbers of questions {sorted(qs)}; "
                         "a paired comparison needs the same questions")
    if n_resamples < 1:
        raise ValueError(f"nested bootstrap: n_resamples must be >= 1, got {n_resamples}")
    q = qs.pop()
    s_max = max(c.shape[1] for c in cubes.values())
    k_max = max(c.shape[2] for c in cubes.values())
    rng = np.random.default_rng(seed)
    out = {name: np.empty(n_resamples) for name in cubes}
    step = max(1, _CHUNK_CELLS // (q * s_max * k_max))
    for start in range(0, n_resamples, step):
        rows = min(step, n_resamples - start)
        qi = rng.integers(0, q, size=(rows, q))
        su = rng.random(size=(rows, q, s_max)) if s_max > 1 else None
        ku = rng.random(size=(rows, q, s_max, k_max)) if k_max > 1 else None
        for name, cube in cubes.items():
            _, s, k = cube.shape
            si = (su[:, :, :s] * s).astype(np.intp) if s > 1 else np.zeros((rows, q, 1), dtype=np.intp)
            if k > 1:
                ki = (ku[:, :, :s, :k] * k).astype(np.intp)
                drawn = cube[qi[:, :, None, None], si[:, :, :, None], ki]
            else:
                drawn = cube[qi[:, :, None], si, 0]
            out[name][start:start + rows] = drawn.reshape(rows, -1).mean(axis=1)
    return out


def percentile_interval(resampled: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The central `confidence` percentile interval of bootstrap resamples."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.asarray(resampled, dtype=float), (tail, 100 - tail))
    return float(low), float(high)


def detectable_difference(resampled_differences: np.ndarray) -> float:
    """The smallest true difference this design detects with 80 % power at a two-sided 5 % level:
    (1.96 + 0.84) times the bootstrap standard error of the difference (same unit as the input)."""
    return float(2.8 * np.std(np.asarray(resampled_differences, dtype=float), ddof=1)) \
        if len(resampled_differences) > 1 else float("nan")
