"""Selection of s1K and its ablation subsets (s1's released notebook, paper Table 2).

Filter steps shared by every subset (each counted in the funnel):

1. ``na_drop``: drop rows with a null in any available feature (trace_tokens, domain,
   teacher_correct, correct_<alias>; a column that is null everywhere was not computed
   and is reported as unavailable instead of emptying the pool).
2. ``quality``: s1's formatting filter (``quality_ok``).
3. ``difficulty``: drop a question any difficulty model answered correctly (skipped,
   and said so, when no ``correct_<alias>`` column is available).

Subsets: ``s1k`` (notebook: benchmark-related preselection, then domain-diverse picks
weighted 2^-rank by trace length; ``algorithm="paper"`` for Algorithm 1's uniform
domains throughout), ``random`` (uniform over the quality-filtered pool), ``diverse``
(uniform domain, then uniform question), ``longest`` (longest traces), ``full`` (every
question with a trace length). All randomness comes from ``seed``.

The notebook's s1k, as released: the preselected questions stay in their domain pools, so
a draw that lands on one is spent without adding a question, and the loop runs until the
selection (preselected included) holds ``size``. Domains are uniform while fewer than
``uniform_fraction * size`` are selected, then drawn from the benchmark distribution of
the post-difficulty pool (`benchmark_weights`), restricted to the domains that still hold
questions. Beyond the notebook, which would fail there: when no benchmark domain is left,
the draw falls back to uniform, and the loop stops when every domain is empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from s1flow.curate.features import correct_aliases
from s1flow.errors import ConfigError

SubsetName = Literal["s1k", "random", "diverse", "longest", "full"]
SUBSETS: tuple[str, ...] = ("s1k", "random", "diverse", "longest", "full")
_SUBSET_STREAM = {name: i for i, name in enumerate(SUBSETS)}
# 2**-rank underflows to exactly 0.0 in float64 beyond this rank, so longer tails add nothing.
_MAX_RANK = 1100


@dataclass(frozen=True)
class BenchmarkSources:
    """Regexes on ``source`` naming s1's benchmark-related questions (notebook step 4).

    Matched case-sensitively with `re.search`. The defaults are s1's: AIME and GPQA are
    exact source names (anchored), ``long`` is a substring of ``source``.
    """

    aime: str = "^qq8933/AIME_1983_2024$"
    gpqa: str = "^Idavidrein/gpqa$"
    long: str = "openaimath"
    long_min_tokens: int = 5600
    gpqa_weight: float = 0.5

    def __post_init__(self) -> None:
        for key in ("aime", "gpqa", "long"):
            try:
                re.compile(getattr(self, key))
            except (re.error, TypeError) as exc:
                raise ConfigError(f"selection.benchmark.{key} (--{key}): {getattr(self, key)!r} is not a valid "
                                  f"regular expression ({exc})") from None


@dataclass(frozen=True)
class SelectionSettings:
    """How s1k is drawn: `algorithm` 'notebook' (released code) or 'paper' (Algorithm 1)."""

    size: int = 1000
    seed: int = 0
    algorithm: Literal["notebook", "paper"] = "notebook"
    uniform_fraction: float = 0.7
    benchmark: BenchmarkSources = field(default_factory=BenchmarkSources)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError(f"selection.size (--size): a subset holds at least 1 question, got {self.size}")


def _tokens(df: pd.DataFrame) -> np.ndarray:
    """``trace_tokens`` as int64, a missing length as -1 (shortest: never preselected as long, drawn last)."""
    return pd.to_numeric(df["trace_tokens"]).fillna(-1).to_numpy(dtype=np.int64)


def _available(df: pd.DataFrame, col: str) -> bool:
    return col in df.columns and bool(df[col].notna().any())


def filter_steps(features: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """Apply the shared filter steps; return the table after each step and the funnel entries."""
    candidates = ["trace_tokens", "domain", "teacher_correct", *(f"correct_{a}" for a in correct_aliases(features))]
    used = [c for c in candidates if _available(features, c)]
    unavailable = [c for c in candidates if c not in used]
    steps = [{"step": "pool", "count": len(features)}]
    na = features.dropna(subset=used) if used else features
    steps.append({"step": "na_drop", "count": len(na), "columns": used, "unavailable": unavailable})
    quality = na[na["quality_ok"].astype(bool)] if "quality_ok" in na.columns else na
    steps.append({"step": "quality", "count": len(quality)})
    correct_cols = [c for c in used if c.startswith("correct_")]
    if correct_cols:
        solved = np.zeros(len(quality), dtype=bool)
        for c in correct_cols:
            solved |= quality[c].astype(bool).to_numpy()
        hard = quality[~solved]
        steps.append({"step": "difficulty", "count": len(hard), "columns": correct_cols})
    else:
        hard = quality
        steps.append({"step": "difficulty", "count": len(hard), "skipped": True,
                      "reason": "no difficulty models configured (no correct_<alias> labels available)"})
    return {"na_drop": na, "quality": quality, "difficulty": hard}, steps


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _SUBSET_STREAM[name]]))


def _by_domain_longest_first(df: pd.DataFrame) -> dict[str, list[int]]:
    """Row positions of `df` per domain, longest trace first (ties keep table order)."""
    order = np.argsort(-_tokens(df), kind="stable")
    domains = df["domain"].to_numpy()[order]
    groups: dict[str, list[int]] = {}
    for pos, dom in zip(order.tolist(), domains, strict=True):
        groups.setdefault(str(dom), []).append(pos)
    return groups


def _draw_by_rank(rng: np.random.Generator, items: list[int]) -> int:
    """Remove and return an item, rank r (0 = longest) drawn with probability 2^-r."""
    k = min(len(items), _MAX_RANK)
    weights = np.exp2(-np.arange(k, dtype=np.float64))
    pick = int(rng.choice(k, p=weights / weights.sum()))
    return items.pop(pick)


def _matches(df: pd.DataFrame, pattern: str) -> np.ndarray:
    """Rows whose ``source`` matches `pattern` (case-sensitive, as the notebook compares)."""
    return df["source"].astype(str).str.contains(pattern, regex=True).to_numpy(dtype=bool)


def benchmark_weights(df: pd.DataFrame, bench: BenchmarkSources) -> dict[str, float]:
    """s1's benchmark domain distribution over `df` (the post-difficulty pool), summing to 1.

    AIME's domain counts plus GPQA's, each GPQA count multiplied by
    ``gpqa_weight * n_aime / n_gpqa`` and truncated with ``int()``; a domain whose weight is
    0 is left out (the notebook adds `Counter`s, which drops it). Empty when nothing weighs.
    """
    aime = df.loc[_matches(df, bench.aime), "domain"].value_counts(sort=False)
    gpqa = df.loc[_matches(df, bench.gpqa), "domain"].value_counts(sort=False)
    counts: dict[str, int] = {str(d): int(c) for d, c in aime.items()}
    if len(gpqa):
        ratio = bench.gpqa_weight * int(aime.sum()) / int(gpqa.sum())
        for d, c in gpqa.items():
            counts[str(d)] = counts.get(str(d), 0) + int(int(c) * ratio)
    counts = {d: c for d, c in counts.items() if c > 0}
    total = sum(counts.values())
    return {d: c / total for d, c in sorted(counts.items())}


def preselect_mask(df: pd.DataFrame, bench: BenchmarkSources) -> np.ndarray:
    """Notebook step 4: teacher correct AND (AIME or GPQA, or a long-trace `long` source)."""
    if not _available(df, "teacher_correct"):
        return np.zeros(len(df), dtype=bool)
    correct = df["teacher_correct"].astype(bool).to_numpy()
    is_bench = _matches(df, bench.aime) | _matches(df, bench.gpqa)
    is_long = _matches(df, bench.long) & (_tokens(df) > bench.long_min_tokens)
    return correct & (is_bench | is_long)


def _draw_notebook(rng: np.random.Generator, hard: pd.DataFrame, preselected: np.ndarray, size: int,
                   uniform_until: int, weights: dict[str, float]) -> tuple[set[int], dict[str, int]]:
    """The notebook's loop: every question stays drawable; a draw of a selected one is spent."""
    chosen = set(preselected.tolist())
    groups = _by_domain_longest_first(hard)
    counts = {"benchmark_weighted_draws": 0, "spent_draws": 0, "uniform_fallback_draws": 0}
    while len(chosen) < size and groups:
        names = sorted(groups)
        w = np.array([weights.get(d, 0.0) for d in names])
        if len(chosen) < uniform_until:
            domain = names[int(rng.choice(len(names)))]
        elif w.sum() > 0:  # emptied domains are gone from `names`: the rest renormalise
            domain = names[int(rng.choice(len(names), p=w / w.sum()))]
            counts["benchmark_weighted_draws"] += 1
        else:  # every benchmark domain is empty (the notebook would fail here)
            domain = names[int(rng.choice(len(names)))]
            counts["uniform_fallback_draws"] += 1
        pos = _draw_by_rank(rng, groups[domain])
        if pos in chosen:
            counts["spent_draws"] += 1
        chosen.add(pos)
        if not groups[domain]:
            del groups[domain]
    return chosen, counts


def _draw_paper(rng: np.random.Generator, hard: pd.DataFrame, preselected: np.ndarray,
                size: int) -> list[int]:
    """Algorithm 1: uniform domains over the questions not preselected, 2^-rank within."""
    chosen = list(preselected.tolist())
    rest_positions = np.flatnonzero(~np.isin(np.arange(len(hard)), preselected))
    rest = hard.iloc[rest_positions]
    groups = {d: [int(rest_positions[i]) for i in items] for d, items in _by_domain_longest_first(rest).items()}
    while len(chosen) < size and groups:
        names = sorted(groups)
        domain = names[int(rng.choice(len(names)))]
        chosen.append(_draw_by_rank(rng, groups[domain]))
        if not groups[domain]:
            del groups[domain]
    return chosen


def select_s1k(features: pd.DataFrame, settings: SelectionSettings) -> tuple[pd.DataFrame, dict]:
    """s1K: preselection plus domain-diverse 2^-rank sampling; returns (subset, details for the funnel)."""
    stages, _ = filter_steps(features)
    hard = stages["difficulty"].reset_index(drop=True)
    rng = _rng(settings.seed, "s1k")
    pre_idx = np.flatnonzero(preselect_mask(hard, settings.benchmark))
    if len(pre_idx) > settings.size:  # more benchmark-related questions than wanted: keep the longest
        order = np.argsort(-_tokens(hard)[pre_idx], kind="stable")
        pre_idx = np.sort(pre_idx[order[: settings.size]])
    # the notebook weighs domains by the pool the draws come from (after the difficulty filter)
    weights = benchmark_weights(hard, settings.benchmark)
    if settings.algorithm == "paper":
        uniform_until = settings.size
        chosen = _draw_paper(rng, hard, pre_idx, settings.size)
        counts = {"benchmark_weighted_draws": 0}
    else:
        uniform_until = int(round(settings.uniform_fraction * settings.size))
        chosen_set, counts = _draw_notebook(rng, hard, pre_idx, settings.size, uniform_until, weights)
        chosen = list(chosen_set)
    subset = hard.iloc[sorted(chosen)].reset_index(drop=True)
    details = {"preselected": int(len(pre_idx)), **counts,
               "uniform_until": uniform_until, "algorithm": settings.algorithm,
               "benchmark_domains": {k: round(v, 6) for k, v in weights.items()},
               "preselection": ("skipped: teacher_correct not available" if not _available(hard, "teacher_correct")
                                else "teacher correct AND (aime or gpqa source, or long source above long_min_tokens)")}
    return subset, details


def select_subset(features: pd.DataFrame, name: SubsetName, settings: SelectionSettings) -> tuple[pd.DataFrame, dict]:
    """Pick the named subset of `features`; returns (rows in table order, details for the funnel).

    The details say how many questions were requested and, when fewer survive the filters,
    the shortfall (``short_by``); ``full`` takes every row and requests no size.
    """
    subset, details = _select(features, name, settings)
    if name != "full":
        details = {"requested": settings.size, **details}
        if len(subset) < settings.size:
            details["short_by"] = settings.size - len(subset)
    return subset, details


def _select(features: pd.DataFrame, name: SubsetName, settings: SelectionSettings) -> tuple[pd.DataFrame, dict]:
    if name == "s1k":
        return select_s1k(features, settings)
    if name == "full":
        base = features[features["trace_tokens"].notna()].reset_index(drop=True)
        return base, {"from_step": "pool (rows with a trace length)"}
    stages, _ = filter_steps(features)
    rng = _rng(settings.seed, name)
    base = stages["quality"].reset_index(drop=True)
    size = min(settings.size, len(base))
    if name == "random":
        picks = rng.choice(len(base), size=size, replace=False)
    elif name == "longest":
        picks = np.argsort(-_tokens(base), kind="stable")[:size]
    elif name == "diverse":
        groups: dict[str, list[int]] = {}
        for pos, dom in enumerate(base["domain"].astype(str)):
            groups.setdefault(dom, []).append(pos)
        picks_list: list[int] = []
        while len(picks_list) < size and groups:
            names = sorted(groups)
            domain = names[int(rng.choice(len(names)))]
            items = groups[domain]
            picks_list.append(items.pop(int(rng.choice(len(items)))))
            if not items:
                del groups[domain]
        picks = np.array(picks_list, dtype=np.int64)
    else:
        raise ValueError(f"unknown subset {name!r}; expected one of {SUBSETS}")
    subset = base.iloc[np.sort(picks)].reset_index(drop=True)
    return subset, {"from_step": "quality"}


def funnel(features: pd.DataFrame, subsets: dict[str, pd.DataFrame], settings: SelectionSettings,
           details: dict[str, dict] | None = None) -> dict:
    """Counts after each filter step, and per subset its size, domains covered and details."""
    _, steps = filter_steps(features)
    details = details or {}
    return {
        "seed": settings.seed,
        "size": settings.size,
        "algorithm": settings.algorithm,
        "steps": steps,
        "domains_available": int(features["domain"].dropna().nunique()),
        "subsets": {
            name: {"count": len(df), "domains": int(df["domain"].dropna().nunique()), **details.get(name, {})}
            for name, df in subsets.items()
        },
    }
