"""Deduplication and decontamination with s1's word 8-gram scheme.

s1 lower-cases a question, splits it on whitespace and takes every run of ``n`` (8)
consecutive words (a question shorter than ``n`` words is one n-gram of its own, so exact
copies of short questions are caught, which s1's scheme misses). A pool question is
dropped when it shares any n-gram with an evaluation question; sources are processed in order and each source's accepted
questions join the "seen" set, so a later source's question sharing an n-gram with an
earlier source is dropped too; finally exact-duplicate questions are dropped (compared
after the same lower-casing and whitespace normalisation, so copies differing only in
case or spacing go too).

The fast path hashes every word once, folds n consecutive word hashes into
one 64-bit n-gram key with numpy, and intersects sorted key arrays. Every hash match is
then confirmed on the actual word n-grams, so results equal the string-based scheme
(:func:`reference_contaminated`) exactly, never a hash collision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from s1flow.pool import POOL_COLUMNS, with_qhash

log = logging.getLogger(__name__)

_MIX = np.uint64(0x9E3779B97F4A7C15)


def normalise_words(text: str) -> list[str]:
    """Lower-case `text` and split it on any whitespace (s1's normalisation)."""
    return text.lower().split()


def ngram_strings(text: str, n: int) -> set[str]:
    """The set of word n-grams of `text` as space-joined strings (the reference form).

    A text of fewer than `n` words (but at least one) is one n-gram of its own, so exact
    copies of short questions are caught too (s1's pure n-gram scheme cannot see them).
    """
    words = normalise_words(text)
    if 0 < len(words) < n:
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


def build_ngram_index(texts: Sequence[str], n: int) -> NgramIndex:
    """Hash every word n-gram of `texts` (lower-cased, whitespace-split) into 64-bit keys."""
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
    n_grams_per_text = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
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
    *, index: NgramIndex | None = None,
) -> dict[int, str]:
    """Indices of `pool_texts` sharing a word n-gram with any eval text, mapped to the eval set's name.

    `index` is the pool's n-gram index when the caller has built it already.
    """
    pool = index if index is not None else build_ngram_index(pool_texts, n)
    names = list(eval_texts)
    all_eval = [t for name in names for t in eval_texts[name]]
    set_of_eval = np.repeat(np.arange(len(names)), [len(eval_texts[name]) for name in names])
    ev = build_ngram_index(all_eval, n)
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


def cross_source_overlaps(
    texts: Sequence[str], group: np.ndarray, excluded: np.ndarray, n: int = 8,
    *, index: NgramIndex | None = None,
) -> np.ndarray:
    """Mark texts sharing an n-gram with an accepted text of an earlier group (s1's "seen" set).

    `group` gives each text's source index (processing order); `excluded` marks texts
    already dropped (e.g. contaminated) whose n-grams never join the seen set.
    Returns a boolean mask of texts to drop.
    """
    index = index if index is not None else build_ngram_index(texts, n)
    dropped = np.zeros(len(texts), dtype=bool)
    if len(index.keys) == 0:
        return dropped
    uniq, inverse = np.unique(index.keys, return_inverse=True)
    big = np.iinfo(np.int64).max
    first_group = np.full(len(uniq), big, dtype=np.int64)
    first_owner = np.full(len(uniq), -1, dtype=np.int64)
    occ_group = group[index.owner]
    for g in np.unique(group):
        sel = np.flatnonzero(occ_group == g)
        if len(sel) == 0:
            continue
        u = inverse[sel]
        candidate = first_group[u] < g
        for i in sel[candidate]:
            q = int(index.owner[i])
            if dropped[q] or excluded[q]:
                continue
            # confirm on the words: the earlier accepted text holding this key
            other = int(first_owner[inverse[i]])
            if _ngram_at(index, i, n) in _text_ngrams(index, other, n):
                dropped[q] = True
        accepted = ~(dropped[index.owner[sel]] | excluded[index.owner[sel]])
        acc = sel[accepted]
        u_acc = inverse[acc]
        newer = first_group[u_acc] == big
        first_group[u_acc[newer]] = g
        first_owner[u_acc[newer]] = index.owner[acc[newer]]
    return dropped


def _text_ngrams(index: NgramIndex, q: int, n: int) -> set[tuple[str, ...]]:
    w = index.words[q]
    if 0 < len(w) < n:
        return {tuple(w)}
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def reference_contaminated(pool_texts: Sequence[str], eval_texts: Sequence[str], n: int = 8) -> set[int]:
    """s1's scheme written plainly: a dict from every n-gram string to the ids holding it, then intersect.

    Kept as the yardstick the fast path is tested and benchmarked against.
    """
    pool_grams: dict[str, set[int]] = {}
    for i, text in enumerate(pool_texts):
        for gram in ngram_strings(text, n):
            pool_grams.setdefault(gram, set()).add(i)
    eval_grams: dict[str, set[int]] = {}
    for j, text in enumerate(eval_texts):
        for gram in ngram_strings(text, n):
            eval_grams.setdefault(gram, set()).add(j)
    hits: set[int] = set()
    for gram in pool_grams.keys() & eval_grams.keys():
        hits |= pool_grams[gram]
    return hits


def build_pool(
    sources: Sequence[tuple[str, pd.DataFrame]],
    eval_sets: Mapping[str, Sequence[str]],
    *,
    ngram: int = 8,
    cross_source: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Concatenate normalised sources in order, decontaminate, deduplicate; return (pool, report).

    The report counts, per source, the questions read and those removed for sharing an
    n-gram with an eval set, with an earlier source, or for being an exact duplicate,
    and lists the removed qhashes by reason.
    """
    names = [name for name, _ in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique, got {names}")
    frames = [df.assign(_source_name=name) for name, df in sources]
    combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=POOL_COLUMNS)
    texts = combined["question"].tolist()
    group = np.repeat(np.arange(len(frames)), [len(f) for f in frames])
    log.info("decontaminating %d questions against %d eval sets", len(texts), len(eval_sets))
    index = build_ngram_index(texts, ngram)
    hits = contaminated(texts, eval_sets, ngram, index=index)
    excluded = np.zeros(len(texts), dtype=bool)
    excluded[list(hits)] = True
    cross = np.zeros(len(texts), bool)
    if cross_source and len(frames) > 1:
        cross = cross_source_overlaps(texts, group, excluded, ngram, index=index)
    alive = ~(excluded | cross)
    exact_dup = np.zeros(len(texts), dtype=bool)
    alive_idx = np.flatnonzero(alive)
    normalised = pd.Series([" ".join(normalise_words(texts[i])) for i in alive_idx], dtype=object)
    dup_of_alive = normalised.duplicated(keep="first").to_numpy()
    exact_dup[alive_idx[dup_of_alive]] = True
    keep = alive & ~exact_dup
    combined = with_qhash(combined.drop(columns="_source_name")).assign(_source_name=combined["_source_name"])
    report: dict = {
        "ngram": ngram,
        "cross_source": cross_source,
        "eval_sets": {name: len(qs) for name, qs in eval_sets.items()},
        "totals": {
            "input": len(texts),
            "eval_overlap": int(excluded.sum()),
            "cross_source_overlap": int(cross.sum()),
            "exact_duplicate": int(exact_dup.sum()),
            "kept": int(keep.sum()),
        },
        "sources": {},
    }
    qh = combined["qhash"].to_numpy()
    for g, name in enumerate(names):
        m = group == g
        matched: dict[str, int] = {}
        for q in np.flatnonzero(m & excluded):
            matched[hits[int(q)]] = matched.get(hits[int(q)], 0) + 1
        report["sources"][name] = {
            "input": int(m.sum()),
            "eval_overlap": int((m & excluded).sum()),
            "eval_overlap_by_set": matched,
            "cross_source_overlap": int((m & cross).sum()),
            "exact_duplicate": int((m & exact_dup).sum()),
            "kept": int((m & keep).sum()),
            "removed": {
                "eval_overlap": sorted(qh[m & excluded].tolist()),
                "cross_source_overlap": sorted(qh[m & cross].tolist()),
                "exact_duplicate": sorted(qh[m & exact_dup].tolist()),
            },
        }
    pool = combined.loc[keep, POOL_COLUMNS].reset_index(drop=True)
    return pool, report
