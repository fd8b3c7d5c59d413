import json

import numpy as np
import pandas as pd
import pytest

from s1flow.decontaminate import (
    build_ngram_index,
    build_pool,
    contaminated,
    cross_source_overlaps,
    ngram_strings,
    reference_contaminated,
)
from s1flow.io import read_table
from s1flow.pool import question_hash


def _frame(questions, source="src"):
    return pd.DataFrame({"question": questions, "solution": None, "cot_type": "math", "source": source,
                         "metadata": "{}", "domain": None})


def _random_texts(rng, n, vocab, lo=3, hi=40):
    return [" ".join(rng.choice(vocab, size=rng.integers(lo, hi))) for _ in range(n)]


def test_ngrams_are_lowercased_whitespace_normalised():
    assert ngram_strings("A  b\tC\nd", 2) == {"a b", "b c", "c d"}
    idx = build_ngram_index(["A  b\tC\nd", "a b c d"], 2)
    assert len(idx.keys) == 6
    assert set(idx.keys[:3].tolist()) == set(idx.keys[3:].tolist())


@pytest.mark.parametrize("n", [1, 3, 8])
def test_fast_path_equals_reference_scheme(n):
    rng = np.random.default_rng(n)
    vocab = np.array([f"w{i}" for i in range(30)])
    pool = _random_texts(rng, 400, vocab)
    evals = _random_texts(rng, 40, vocab) + [pool[3].upper(), " ".join(pool[9].split()[1:])]
    fast = set(contaminated(pool, {"e": evals}, n))
    assert fast == reference_contaminated(pool, evals, n)
    assert 3 in fast


def test_short_questions_are_one_ngram_of_their_own():
    assert contaminated(["One two  three", "one two three four"], {"e": ["one two three"]}, 8) == {0: "e"}
    assert ngram_strings("a b", 8) == {"a b"}
    assert ngram_strings("", 8) == set()


def test_contaminated_names_the_eval_set():
    text = "what is the sum of the first one hundred positive integers please"
    hits = contaminated(["unrelated words here " * 3, "prefix " + text], {"a": ["x y z"], "b": [text]}, 8)
    assert hits == {1: "b"}


def test_cross_source_follows_s1_order_rule():
    shared = "alpha beta gamma delta epsilon zeta eta theta iota"
    texts = [shared + " one", "other words entirely", shared + " two", shared + " three"]
    group = np.array([0, 0, 1, 1])
    dropped = cross_source_overlaps(texts, group, np.zeros(4, bool), 8)
    # within the first source nothing is dropped; the second source's overlaps are
    assert dropped.tolist() == [False, False, True, True]
    # a contaminated (excluded) question's n-grams never join the seen set
    dropped = cross_source_overlaps(texts, group, np.array([True, False, False, False]), 8)
    assert dropped.tolist() == [False, False, False, False]


def test_build_pool_report_counts_every_removal():
    ev = "find the number of ordered pairs of integers x and y such that"
    a = _frame(["q one " + ev, "a clean question with enough words in it to matter", "dup question",
                "dup question"], "A")
    b = _frame(["a clean question with enough words in it to matter too", "fresh b question"], "B")
    pool, report = build_pool([("a", a), ("b", b)], {"aime": [ev]}, ngram=8)
    assert pool["question"].tolist() == ["a clean question with enough words in it to matter", "dup question",
                                         "fresh b question"]
    assert pool["qhash"].tolist() == [question_hash(q) for q in pool["question"]]
    ra, rb = report["sources"]["a"], report["sources"]["b"]
    assert (ra["input"], ra["eval_overlap"], ra["exact_duplicate"], ra["kept"]) == (4, 1, 1, 2)
    assert ra["eval_overlap_by_set"] == {"aime": 1}
    assert (rb["cross_source_overlap"], rb["kept"]) == (1, 1)
    assert report["totals"]["kept"] == 3
    json.dumps(report)


def test_build_pool_without_cross_source_keeps_overlaps():
    a = _frame(["a clean question with enough words in it to matter"], "A")
    b = _frame(["a clean question with enough words in it to matter too"], "B")
    pool, _ = build_pool([("a", a), ("b", b)], {}, ngram=8, cross_source=False)
    assert len(pool) == 2


@pytest.mark.realdata
def test_math500_is_removed_from_math_test(shared_data):
    pool = read_table(shared_data / "pool" / "math_test_5000.csv")["Question"].tolist()
    math500 = read_table(shared_data / "eval" / "math500_test.jsonl")["problem"].tolist()
    fast = set(contaminated(pool, {"math500": math500}, 8))
    exact = {i for i, q in enumerate(pool) if q in set(math500)}
    assert len(exact) == 500
    assert exact <= fast
    assert fast == reference_contaminated(pool, math500, 8)
