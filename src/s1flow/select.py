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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from s1flow.features import correct_aliases

SubsetName = Literal["s1k", "random", "diverse", "longest", "full"]
SUBSETS: tuple[str, ...] = ("s1k", "random", "diverse", "longest", "full")
_SUBSET_STREAM = {name: i for i, name in enumerate(SUBSETS)}
# 2**-rank underflows to exactly 0.0 in float64 beyond this rank, so longer tails add nothing.
_MAX_RANK = 1100


@dataclass(frozen=True)
class BenchmarkSources:
    """Regexes on ``source`` naming s1's benchmark-related questions (notebook step 4)."""

    aime: str = "AIME"
    gpqa: str = "gpqa"
    long: str = "openaimath"
    long_min_tokens: int = 5600
    gpqa_weight: float = 0.5


@dataclass(frozen=True)
class SelectionSettings:
    """How s1k is drawn: `algorithm` 'notebook' (released code) or 'paper' (Algorithm 1)."""

    size: int = 1000
    seed: int = 0
    algorithm: Literal["notebook", "paper"] = "notebook"
    uniform_fraction: float = 0.7
    benchmark: BenchmarkSources = field(default_factory=BenchmarkSources)


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
    order = np.argsort(-df["trace_tokens"].to_numpy(dtype=np.int64), kind="stable")
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


def benchmark_weights(df: pd.DataFrame, bench: BenchmarkSources) -> dict[str, float]:
    """s1's benchmark domain distribution: AIME's domain histogram plus GPQA's scaled to half its mass."""
    src = df["source"].astype(str)
    aime = df.loc[src.str.contains(bench.aime, regex=True, flags=re.IGNORECASE), "domain"].value_counts()
    gpqa = df.loc[src.str.contains(bench.gpqa, regex=True, flags=re.IGNORECASE), "domain"].value_counts()
    weights: dict[str, float] = {str(d): float(c) for d, c in aime.items()}
    if len(gpqa):
        scale = bench.gpqa_weight * (aime.sum() if len(aime) else 1.0) / gpqa.sum()
        for d, c in gpqa.items():
            weights[str(d)] = weights.get(str(d), 0.0) + float(c) * scale
    return weights


def preselect_mask(df: pd.DataFrame, bench: BenchmarkSources) -> np.ndarray:
    """Notebook step 4: teacher correct AND (AIME or GPQA, or long-trace openaimath)."""
    if not _available(df, "teacher_correct"):
        return np.zeros(len(df), dtype=bool)
    src = df["source"].astype(str)
    correct = df["teacher_correct"].astype(bool).to_numpy()
    is_bench = src.str.contains(f"(?:{bench.aime})|(?:{bench.gpqa})", regex=True, flags=re.IGNORECASE).to_numpy()
    is_long = (src.str.contains(bench.long, regex=True, flags=re.IGNORECASE).to_numpy()
               & (df["trace_tokens"].to_numpy(dtype=np.int64) > bench.long_min_tokens))
    return correct & (is_bench | is_long)


def select_s1k(features: pd.DataFrame, settings: SelectionSettings) -> tuple[pd.DataFrame, dict]:
    """s1K: preselection plus domain-diverse 2^-rank sampling; returns (subset, details for the funnel)."""
    stages, _ = filter_steps(features)
    hard = stages["difficulty"].reset_index(drop=True)
    rng = _rng(settings.seed, "s1k")
    pre = preselect_mask(hard, settings.benchmark)
    pre_idx = np.flatnonzero(pre)
    if len(pre_idx) > settings.size:  # more benchmark-related questions than wanted: keep the longest
        order = np.argsort(-hard["trace_tokens"].to_numpy(dtype=np.int64)[pre_idx], kind="stable")
        pre_idx = np.sort(pre_idx[order[: settings.size]])
    chosen = list(pre_idx.tolist())
    rest = hard.iloc[np.flatnonzero(~pre)]
    rest_positions = np.flatnonzero(~pre)
    groups = {d: [int(rest_positions[i]) for i in items] for d, items in _by_domain_longest_first(rest).items()}
    weights = benchmark_weights(stages["na_drop"], settings.benchmark)
    uniform_until = settings.size if settings.algorithm == "paper" else int(round(settings.uniform_fraction
                                                                                   * settings.size))
    benchmark_draws = 0
    while len(chosen) < settings.size and groups:
        names = sorted(groups)
        w = np.array([weights.get(d, 0.0) for d in names])
        if len(chosen) >= uniform_until and w.sum() > 0:
            domain = names[int(rng.choice(len(names), p=w / w.sum()))]
            benchmark_draws += 1
        else:
            domain = names[int(rng.choice(len(names)))]
        chosen.append(_draw_by_rank(rng, groups[domain]))
        if not groups[domain]:
            del groups[domain]
    subset = hard.iloc[sorted(chosen)].reset_index(drop=True)
    details = {"preselected": int(len(pre_idx)), "benchmark_weighted_draws": benchmark_draws,
               "uniform_until": uniform_until, "algorithm": settings.algorithm,
               "benchmark_domains": {k: round(v, 6) for k, v in sorted(weights.items())},
               "preselection": ("skipped: teacher_correct not available" if not _available(hard, "teacher_correct")
                                else "teacher correct AND (aime or gpqa source, or long source above long_min_tokens)")}
    return subset, details


def select_subset(features: pd.DataFrame, name: SubsetName, settings: SelectionSettings) -> tuple[pd.DataFrame, dict]:
    """Pick the named subset of `features`; returns (rows in table order, details for the funnel)."""
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
        picks = np.argsort(-base["trace_tokens"].to_numpy(dtype=np.int64), kind="stable")[:size]
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
