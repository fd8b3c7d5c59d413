"""Deduplication and decontamination with s1's word 8-gram scheme (``collect_data.py``).

s1 lower-cases a question, splits it on whitespace and takes every run of ``n`` (8)
consecutive words. A question shorter than ``n`` words is one n-gram of its own
(``short_questions: whole``, so exact copies of short questions are caught) or, as in s1,
has no n-gram at all (``skip``). Sources are processed in order: a source's question is
dropped when it shares an n-gram with an evaluation question or with an accepted question
of an earlier source (the "seen" set); only then is the source shuffled (the permutation
of ``datasets.Dataset.shuffle(seed)``) and sampled, and its accepted questions join the
seen set. A source marked ``decontaminate: false`` is appended as it is (s1's
``add_aime.py``). Finally exact-duplicate questions are dropped, the first occurrence kept,
compared after the same lower-casing and whitespace normalisation (``exact_dedup:
normalised``) or as raw strings (``raw``, s1).

The fast path hashes every word once, folds n consecutive word hashes into
one 64-bit n-gram key with numpy, and intersects sorted key arrays. Every hash match is
then confirmed on the actual word n-grams, so results equal the string-based scheme
(:func:`reference_contaminated`) exactly, never a hash collision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from s1flow.curate.pool import POOL_COLUMNS, question_hash, with_qhash
from s1flow.errors import ConfigError

log = logging.getLogger(__name__)

_MIX = np.uint64(0x9E3779B97F4A7C15)


def normalise_words(text: str) -> list[str]:
    """Lower-case `text` and split it on any whitespace (s1's normalisation)."""
    return text.lower().split()


SHORT_QUESTIONS = ("whole", "skip")
EXACT_DEDUP = ("normalised", "raw")


def ngram_strings(text: str, n: int, short_questions: str = "whole") -> set[str]:
    """The set of word n-grams of `text` as space-joined strings (the reference form).

    With `short_questions` "whole", a text of fewer than `n` words (but at least one) is one
    n-gram of its own, so exact copies of short questions are caught too; "skip" is s1's
    pure n-gram scheme, where such a text has no n-gram at all.
    """
    words = normalise_words(text)
    if 0 < len(words) < n and short_questions == "whole":
        return {" ".join(words)}
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass(frozen=True)
class NgramIndex:
    """All word n-grams of a list of texts as 64-bit keys.

    ``keys[i]`` is the i-th n-gram's key, ``owner[i]`` the index of its text and
    ``start[i]`` the position of its first word in that text's word list.
    """

    keys: np.ndarray
    owner: np.ndarray
    start: np.ndarray
    words: list[list[str]]


def build_ngram_index(texts: Sequence[str], n: int, short_questions: str = "whole") -> NgramIndex:
    """Hash every word n-gram of `texts` (lower-cased, whitespace-split) into 64-bit keys.

    `short_questions` is as in :func:`ngram_strings`.
    """
    if n < 1:
        raise ValueError(f"n-gram length must be >= 1, got {n}")
    words = [normalise_words(t) for t in texts]
    counts = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return NgramIndex(np.zeros(0, dtype=np.uint64), empty, empty, words)
    # Python's string hash (cached on each str, computed in C) is enough here: keys only
    # propose candidates, and every candidate is confirmed on the words themselves.
    word_hash = np.fromiter(map(hash, chain.from_iterable(words)), dtype=np.int64, count=total).view(np.uint64)
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    short = np.minimum(counts, 1) if short_questions == "whole" else np.zeros_like(counts)
    n_grams_per_text = np.where(counts >= n, counts - n + 1, short)
    owner = np.repeat(np.arange(len(words), dtype=np.int64), n_grams_per_text)
    if len(owner) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return NgramIndex(np.zeros(0, dtype=np.uint64), empty, empty, words)
    first = np.repeat(offsets[:-1], n_grams_per_text)
    ngram_offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(n_grams_per_text, out=ngram_offsets[1:])
    start = np.arange(len(owner), dtype=np.int64) - np.repeat(ngram_offsets[:-1], n_grams_per_text)
    pos = first + start
    length = np.minimum(counts[owner], n)
    keys = word_hash[pos].copy()
    with np.errstate(over="ignore"):
        for j in range(1, n):
            longer = length > j
            if longer.all():
                keys = keys * _MIX + word_hash[pos + j]
            else:
                keys[longer] = keys[longer] * _MIX + word_hash[pos[longer] + j]
    return NgramIndex(keys, owner, start, words)


def _member(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``np.isin(keys, table)`` for a small `table`, without sorting `keys`.

    A bitmap over the low 24 bits rules out almost every key with one gather; only the
    survivors are binary-searched in the sorted table.
    """
    out = np.zeros(len(keys), dtype=bool)
    if len(table) == 0 or len(keys) == 0:
        return out
    mask = np.uint64((1 << 24) - 1)
    bitmap = np.zeros(1 << 24, dtype=bool)
    bitmap[table & mask] = True
    maybe = np.flatnonzero(bitmap[keys & mask])
    sorted_table = np.unique(table)
    pos = np.searchsorted(sorted_table, keys[maybe])
    pos[pos == len(sorted_table)] = 0
    out[maybe] = sorted_table[pos] == keys[maybe]
    return out


def _ngram_at(index: NgramIndex, i: int, n: int) -> tuple[str, ...]:
    s = int(index.start[i])
    return tuple(index.words[int(index.owner[i])][s : s + n])


def contaminated(
    pool_texts: Sequence[str], eval_texts: Mapping[str, Sequence[str]], n: int = 8,
    *, index: NgramIndex | None = None, short_questions: str = "whole",
) -> dict[int, str]:
    """Indices of `pool_texts` sharing a word n-gram with any eval text, mapped to the eval set's name.

    `index` is the pool's n-gram index when the caller has built it already (with the same
    `short_questions`).
    """
    pool = index if index is not None else build_ngram_index(pool_texts, n, short_questions)
    names = list(eval_texts)
    all_eval = [t for name in names for t in eval_texts[name]]
    set_of_eval = np.repeat(np.arange(len(names)), [len(eval_texts[name]) for name in names])
    ev = build_ngram_index(all_eval, n, short_questions)
    hit = _member(pool.keys, ev.keys)
    exact_eval: dict[tuple[str, ...], int] = {}
    for j in range(len(ev.keys)):
        exact_eval.setdefault(_ngram_at(ev, j, n), int(set_of_eval[ev.owner[j]]))
    result: dict[int, str] = {}
    for i in np.flatnonzero(hit):
        q = int(pool.owner[i])
        if q in result:
            continue
        found = exact_eval.get(_ngram_at(pool, i, n))
        if found is not None:
            result[q] = names[found]
    return result


class _SeenNgrams:
    """The n-grams of the questions accepted so far (s1's growing "seen" set).

    Built over one index of every pool text: each distinct key remembers the n-gram position
    of its first accepted occurrence, and a hit is confirmed on the words themselves.
    """

    def __init__(self, index: NgramIndex, n: int) -> None:
        self.index, self.n = index, n
        _, inverse = np.unique(index.keys, return_inverse=True)
        self.inverse = inverse.reshape(-1)
        self.first = np.full(int(self.inverse.max()) + 1 if len(self.inverse) else 0, -1, dtype=np.int64)
        # owner is sorted, so text q's n-grams are positions offsets[q] .. offsets[q + 1] - 1
        self.offsets = np.searchsorted(index.owner, np.arange(len(index.words) + 1))

    def _positions(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = self.offsets[rows]
        lens = self.offsets[rows + 1] - starts
        before = np.cumsum(lens) - lens
        pos = np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(starts - before, lens)
        return pos, np.repeat(np.arange(len(rows)), lens)

    def overlapping(self, rows: np.ndarray) -> np.ndarray:
        """For each text in `rows`, whether it shares an n-gram with an accepted text."""
        out = np.zeros(len(rows), dtype=bool)
        pos, row_of = self._positions(np.asarray(rows, dtype=np.int64))
        if len(pos) == 0:
            return out
        first = self.first[self.inverse[pos]]
        for k in np.flatnonzero(first >= 0):
            r = row_of[k]
            if not out[r] and _ngram_at(self.index, int(pos[k]), self.n) == _ngram_at(
                self.index, int(first[k]), self.n
            ):
                out[r] = True
        return out

    def add(self, rows: np.ndarray) -> None:
        """Accept the texts in `rows`: their n-grams join the seen set."""
        pos, _ = self._positions(np.unique(np.asarray(rows, dtype=np.int64)))
        u = self.inverse[pos]
        new = self.first[u] < 0
        self.first[u[new]] = pos[new]


def cross_source_overlaps(
    texts: Sequence[str], group: np.ndarray, excluded: np.ndarray, n: int = 8,
    *, index: NgramIndex | None = None, short_questions: str = "whole",
) -> np.ndarray:
    """Mark texts sharing an n-gram with an accepted text of an earlier group (s1's "seen" set).

    `group` gives each text's source index (processing order); `excluded` marks texts
    already dropped (e.g. contaminated) whose n-grams never join the seen set.
    Returns a boolean mask of texts to drop.
    """
    index = index if index is not None else build_ngram_index(texts, n, short_questions)
    dropped = np.zeros(len(texts), dtype=bool)
    seen = _SeenNgrams(index, n)
    group = np.asarray(group)
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        dropped[rows] = seen.overlapping(rows) & ~excluded[rows]
        seen.add(rows[~(dropped[rows] | excluded[rows])])
    return dropped


def reference_contaminated(pool_texts: Sequence[str], eval_texts: Sequence[str], n: int = 8,
                           short_questions: str = "whole") -> set[int]:
    """s1's scheme written plainly: a dict from every n-gram string to the ids holding it, then intersect.

    Kept as the yardstick the fast path is tested and benchmarked against.
    """
    pool_grams: dict[str, set[int]] = {}
    for i, text in enumerate(pool_texts):
        for gram in ngram_strings(text, n, short_questions):
            pool_grams.setdefault(gram, set()).add(i)
    eval_grams: dict[str, set[int]] = {}
    for j, text in enumerate(eval_texts):
        for gram in ngram_strings(text, n, short_questions):
            eval_grams.setdefault(gram, set()).add(j)
    hits: set[int] = set()
    for gram in pool_grams.keys() & eval_grams.keys():
        hits |= pool_grams[gram]
    return hits


SHUFFLE_SAMPLING = ("balanced", "s1")


@dataclass(frozen=True)
class PoolSource:
    """One normalised source as the pool stage sees it.

    ``select`` (optional) returns the positions to keep of the source's decontaminated,
    shuffled table (XWord: the first 1000; SciEval: 250 balanced over task and topic); a
    position may repeat (s1's SciEval walk can take a row twice; the exact-duplicate pass
    keeps one). ``decontaminate`` false appends the rows as they are: no eval-set or
    cross-source check, no shuffle, and they do not join the "seen" set (s1's
    ``add_aime.py``); only the final exact-duplicate pass still applies.
    """

    name: str
    table: pd.DataFrame
    select: Callable[[pd.DataFrame], np.ndarray] | None = None
    decontaminate: bool = True


@dataclass(frozen=True)
class PoolSettings:
    """The ``decontamination`` config section.

    ``short_questions``: "whole" (a question under ``ngram`` words is one n-gram) or "skip"
    (s1: no n-gram, never matched). ``exact_dedup``: "normalised" (compare after lower-casing
    and whitespace normalisation) or "raw" (s1: the question strings as they are).
    ``shuffle_sources``: shuffle every decontaminated source (s1) rather than only sampled
    ones. ``shuffle_seed``: the seed of ``datasets.Dataset.shuffle`` (s1: 42).
    ``sampling``: how a sampled preset picks from its shuffled survivors, "balanced" (SciEval:
    round-robin over task and topic) or "s1" (SciEval: s1's quota walk); see
    :mod:`s1flow.curate.sources.presets`.
    """

    ngram: int = 8
    cross_source: bool = True
    short_questions: str = "whole"
    exact_dedup: str = "normalised"
    shuffle_sources: bool = False
    shuffle_seed: int = 42
    sampling: str = "balanced"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> PoolSettings:
        """Settings from the ``decontamination`` mapping; ConfigError naming a bad key or value."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"config decontamination: unknown key(s) {unknown}; known: {sorted(known)}")
        out = cls(**cfg)
        checks = (
            ("ngram", isinstance(out.ngram, int) and not isinstance(out.ngram, bool) and out.ngram >= 1,
             "an integer >= 1"),
            ("cross_source", isinstance(out.cross_source, bool), "true or false"),
            ("short_questions", out.short_questions in SHORT_QUESTIONS, f"one of {list(SHORT_QUESTIONS)}"),
            ("exact_dedup", out.exact_dedup in EXACT_DEDUP, f"one of {list(EXACT_DEDUP)}"),
            ("shuffle_sources", isinstance(out.shuffle_sources, bool), "true or false"),
            ("shuffle_seed", isinstance(out.shuffle_seed, int) and not isinstance(out.shuffle_seed, bool)
             and out.shuffle_seed >= 0, "an integer >= 0"),
            ("sampling", out.sampling in SHUFFLE_SAMPLING, f"one of {list(SHUFFLE_SAMPLING)}"),
        )
        for key, ok, want in checks:
            if not ok:
                raise ConfigError(f"config decontamination.{key}: expected {want}, got {getattr(out, key)!r}")
        return out


def hf_shuffle_permutation(n_rows: int, seed: int) -> np.ndarray:
    """The row order of ``datasets.Dataset.shuffle(seed=seed)`` on `n_rows` rows.

    ``Dataset.shuffle`` draws ``np.random.default_rng(seed).permutation(n_rows)``; a test
    checks this against ``datasets`` itself.
    """
    return np.random.default_rng(seed).permutation(n_rows)


def s1_survivor_order(n_rows: int, kept: np.ndarray) -> np.ndarray:
    """The positions `kept` (of `n_rows`) in the order s1's code holds a decontaminated source.

    s1 keeps ``ds.select(list(set(range(n_rows)) - contaminated_ids))``. CPython iterates
    that set of ints in ascending order only while its hash table is at least ``n_rows``
    slots, which fails when many rows were dropped; the same expression reproduces the order.
    """
    kept = np.asarray(kept, dtype=np.int64)
    if len(kept) == n_rows:
        return kept
    dropped = set(range(n_rows)) - set(kept.tolist())
    return np.fromiter(set(range(n_rows)) - dropped, dtype=np.int64, count=len(kept))


def _as_pool_source(item: PoolSource | tuple[str, pd.DataFrame]) -> PoolSource:
    return item if isinstance(item, PoolSource) else PoolSource(item[0], item[1])


def build_pool(
    sources: Sequence[PoolSource | tuple[str, pd.DataFrame]],
    eval_sets: Mapping[str, Sequence[str]],
    *,
    ngram: int = 8,
    cross_source: bool = True,
    settings: PoolSettings | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Build the pool as s1's ``collect_data.py`` does; return (pool, report).

    Sources are processed in order. Each one is decontaminated first: a question sharing
    an n-gram with an eval question, or (``cross_source``) with an accepted question of an
    earlier source, is dropped. The survivors are then shuffled (``datasets`` order, in s1's
    survivor order, when the source is sampled or ``shuffle_sources`` is set) and the
    source's ``select`` keeps its sample; the accepted questions join the "seen" set.
    Sources with ``decontaminate`` false are appended as they are. Finally exact-duplicate
    questions are dropped (first occurrence kept). `settings`, when given, replaces `ngram`
    and `cross_source`.

    The report counts, per source, the questions read, those removed for sharing an n-gram
    with an eval set or an earlier source, those not sampled, and exact duplicates, and
    lists the removed qhashes by reason (not the unsampled ones: counts only).
    """
    cfg = settings or PoolSettings(ngram=ngram, cross_source=cross_source)
    n, short = cfg.ngram, cfg.short_questions
    items = [_as_pool_source(s) for s in sources]
    names = [s.name for s in items]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique, got {names}")
    tables = [s.table.reset_index(drop=True) for s in items]
    sizes = [len(t) for t in tables]
    offsets = np.zeros(len(tables) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    texts: list[str] = [q for t in tables for q in t["question"].tolist()]
    checked = np.repeat(np.array([s.decontaminate for s in items], dtype=bool), sizes)
    log.info("decontaminating %d questions of %d sources against %d eval sets", len(texts), len(items),
             len(eval_sets))
    index = build_ngram_index(texts, n, short)
    hits = {q: s for q, s in contaminated(texts, eval_sets, n, index=index, short_questions=short).items()
            if checked[q]}
    excluded = np.zeros(len(texts), dtype=bool)
    excluded[list(hits)] = True
    cross = np.zeros(len(texts), dtype=bool)
    not_sampled = np.zeros(len(texts), dtype=bool)
    seen = _SeenNgrams(index, n) if cfg.cross_source else None
    parts: list[np.ndarray] = []
    for g, item in enumerate(items):
        lo = int(offsets[g])
        rows = np.arange(lo, int(offsets[g + 1]), dtype=np.int64)
        if not item.decontaminate:
            parts.append(rows)
            continue
        if seen is not None:
            cross[rows] = seen.overlapping(rows) & ~excluded[rows]
        alive = rows[~(excluded[rows] | cross[rows])]
        kept = alive
        if item.select is not None or cfg.shuffle_sources:
            order = s1_survivor_order(len(rows), alive - lo)
            kept = lo + order[hf_shuffle_permutation(len(order), cfg.shuffle_seed)]
        if item.select is not None:
            chosen = np.asarray(item.select(tables[g].iloc[kept - lo].reset_index(drop=True)), dtype=np.int64)
            kept = kept[chosen]
        not_sampled[np.setdiff1d(alive, kept)] = True
        if seen is not None:
            seen.add(kept)
        parts.append(kept)
    order = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if cfg.exact_dedup == "raw":
        keys = pd.Series([texts[i] for i in order], dtype=object)
    else:
        keys = pd.Series([" ".join(normalise_words(texts[i])) for i in order], dtype=object)
    dup = keys.duplicated(keep="first").to_numpy()
    group_of = np.repeat(np.arange(len(items)), sizes)
    kept_rows, dup_rows = order[~dup], order[dup]

    def hashes(mask_rows: np.ndarray) -> list[str]:
        return sorted(question_hash(texts[i]) for i in mask_rows)

    per_source: dict[str, dict] = {}
    for g, item in enumerate(items):
        m = group_of == g
        by_set: dict[str, int] = {}
        for q in np.flatnonzero(m & excluded):
            by_set[hits[int(q)]] = by_set.get(hits[int(q)], 0) + 1
        g_dup = dup_rows[group_of[dup_rows] == g]
        per_source[item.name] = {
            "input": sizes[g],
            "decontaminated": item.decontaminate,
            "eval_overlap": int((m & excluded).sum()),
            "eval_overlap_by_set": by_set,
            "cross_source_overlap": int((m & cross).sum()),
            "not_sampled": int((m & not_sampled).sum()),
            "exact_duplicate": len(g_dup),
            "kept": int((group_of[kept_rows] == g).sum()),
            "removed": {
                "eval_overlap": hashes(np.flatnonzero(m & excluded)),
                "cross_source_overlap": hashes(np.flatnonzero(m & cross)),
                "exact_duplicate": hashes(g_dup),
            },
        }
    totals = {key: sum(r[key] for r in per_source.values())
              for key in ("input", "eval_overlap", "cross_source_overlap", "not_sampled", "exact_duplicate", "kept")}
    report: dict = {
        "ngram": n,
        "cross_source": cfg.cross_source,
        "settings": asdict(cfg),
        "eval_sets": {name: len(qs) for name, qs in eval_sets.items()},
        "totals": totals,
        "sources": per_source,
    }
    combined = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=POOL_COLUMNS[1:])
    pool = with_qhash(combined.iloc[kept_rows].reset_index(drop=True)) if len(texts) else pd.DataFrame(
        columns=POOL_COLUMNS)
    return pool, report
