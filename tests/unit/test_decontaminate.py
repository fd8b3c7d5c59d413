import json

import numpy as np
import pandas as pd
import pytest

from s1flow.curate.decontaminate import (
    PoolSettings,
    PoolSource,
    build_ngram_index,
    build_pool,
    contaminated,
    cross_source_overlaps,
    hf_shuffle_permutation,
    ngram_strings,
    reference_contaminated,
    s1_survivor_order,
)
from s1flow.curate.pool import question_hash
from s1flow.errors import ConfigError
from s1flow.io import read_table


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


# --------------------------------------------------------------------------- s1's pool order


def _words(tag, k=10):
    return " ".join(f"{tag}{i}" for i in range(k))


def _first(k):
    return lambda df: np.arange(min(k, len(df)))


def test_shuffle_is_datasets_shuffle():
    import datasets

    for n in (1, 7, 50):
        ds = datasets.Dataset.from_dict({"i": list(range(n))}).shuffle(seed=42)
        assert hf_shuffle_permutation(n, 42).tolist() == list(ds["i"])


def test_survivor_order_is_s1s_set_order():
    # list(set(range(1000)) - dropped): a new 8-slot set holds 3, 600, 999 in slots 3, 0, 7
    assert s1_survivor_order(1000, np.array([3, 600, 999])).tolist() == [600, 3, 999]
    assert s1_survivor_order(5, np.array([0, 2, 4])).tolist() == [0, 2, 4]


def test_sampling_happens_after_decontamination():
    ev = _words("e")
    src = _frame(["intro " + ev, "also " + ev, _words("clean")], "X")
    pool, report = build_pool([PoolSource("x", src, select=_first(1))], {"aime": [ev]})
    # the one question sampled is the clean one, whatever the shuffle: the contaminated rows
    # were dropped before the sample was drawn
    assert pool["question"].tolist() == [_words("clean")]
    rx = report["sources"]["x"]
    assert (rx["input"], rx["eval_overlap"], rx["not_sampled"], rx["kept"]) == (3, 2, 0, 1)


def test_only_sampled_questions_join_the_seen_set():
    a = _frame([_words("a"), _words("b")], "A")
    b = _frame(["x " + _words("a"), "y " + _words("b")], "B")
    pool, report = build_pool([PoolSource("a", a, select=_first(1)), ("b", b)], {})
    picked = pool["question"].iloc[0]
    other = _words("b") if picked == _words("a") else _words("a")
    # B keeps the question overlapping A's unsampled one and drops the other
    assert pool["question"].iloc[1:].tolist() == [("y " if other == _words("b") else "x ") + other]
    assert report["sources"]["a"]["not_sampled"] == 1
    assert report["sources"]["b"]["cross_source_overlap"] == 1


def test_shuffled_first_n_is_datasets_shuffle_then_select(monkeypatch):
    import datasets

    from s1flow.curate.sources import pool_source, presets

    monkeypatch.setattr(presets.base, "XWORD_SAMPLE_SIZE", 3)
    ev = _words("e")
    clues = [f"clue {i} " + (ev if i == 3 else _words(f"c{i}_")) for i in range(10)]
    raw = pd.DataFrame({"input": [f"### Clue: {c}" for c in clues], "output": [f"A{i}" for i in range(10)]})
    norm = presets.PRESETS["xword"].normalise(raw, where="xword.jsonl")
    pool, report = build_pool([pool_source({"name": "xword", "preset": "xword"}, norm)], {"e": [ev]})
    # s1: ds.select(list(set(range(n)) - contaminated)).shuffle(seed=42).select(range(3))
    ds = datasets.Dataset.from_dict({"question": norm["question"].tolist()})
    expected = ds.select(list(set(range(10)) - {3})).shuffle(seed=42).select(range(3))["question"]
    assert pool["question"].tolist() == list(expected)
    assert report["sources"]["xword"]["not_sampled"] == 6


def test_shuffle_sources_orders_every_source_like_datasets():
    import datasets

    texts = [_words(f"q{i}_") for i in range(6)]
    settings = PoolSettings(shuffle_sources=True, shuffle_seed=42)
    pool, _ = build_pool([("a", _frame(texts, "A"))], {}, settings=settings)
    assert pool["question"].tolist() == list(datasets.Dataset.from_dict({"q": texts}).shuffle(seed=42)["q"])
    plain, _ = build_pool([("a", _frame(texts, "A"))], {})
    assert plain["question"].tolist() == texts


def test_source_without_decontamination_is_appended_as_is():
    ev = _words("e")
    a = _frame([_words("a")], "A")
    x = _frame(["z " + _words("x"), "intro " + ev, "more " + _words("a"), _words("a")], "AIME")
    c = _frame(["c " + _words("x")], "C")
    settings = PoolSettings(shuffle_sources=True)
    pool, report = build_pool([("a", a), PoolSource("aime", x, decontaminate=False), ("c", c)], {"e": [ev]},
                              settings=settings)
    # AIME keeps its eval overlap and its n-gram overlap with A, in its own row order; its
    # exact copy of A's question goes in the final pass (first occurrence kept); C's overlap
    # with AIME stands, as AIME's questions never join the seen set
    assert pool["question"].tolist() == [_words("a"), "z " + _words("x"), "intro " + ev, "more " + _words("a"),
                                         "c " + _words("x")]
    assert pool["source"].tolist() == ["A", "AIME", "AIME", "AIME", "C"]
    rx = report["sources"]["aime"]
    assert (rx["decontaminated"], rx["eval_overlap"], rx["cross_source_overlap"], rx["exact_duplicate"],
            rx["kept"]) == (False, 0, 0, 1, 3)
    assert report["sources"]["c"]["cross_source_overlap"] == 0


def test_final_exact_dedup_raw_keeps_the_first_occurrence():
    a = pd.DataFrame({"question": ["Same question here", "same  QUESTION here", "Same question here"],
                      "solution": ["first", "second", "third"], "cot_type": "math", "source": "A",
                      "metadata": ['{"row": 0}', '{"row": 1}', '{"row": 2}'], "domain": None})
    b = _frame(["Same question here"], "B")
    raw = PoolSettings(short_questions="skip", exact_dedup="raw")
    pool, report = build_pool([("a", a), ("b", b)], {}, settings=raw)
    assert pool["question"].tolist() == ["Same question here", "same  QUESTION here"]
    assert pool["solution"].tolist() == ["first", "second"] and pool["metadata"].iloc[0] == '{"row": 0}'
    assert (report["sources"]["a"]["exact_duplicate"], report["sources"]["b"]["exact_duplicate"]) == (1, 1)
    assert report["sources"]["b"]["removed"]["exact_duplicate"] == [question_hash("Same question here")]
    normalised, _ = build_pool([("a", a), ("b", b)], {}, settings=PoolSettings(short_questions="skip"))
    assert normalised["question"].tolist() == ["Same question here"]


def test_short_questions_skip_is_s1s_pure_ngrams():
    ev = {"e": ["What is 2+2?"]}
    src = [("a", _frame(["what is  2+2?", _words("a")]))]
    whole, _ = build_pool(src, ev)
    skip, report = build_pool(src, ev, settings=PoolSettings(short_questions="skip"))
    assert whole["question"].tolist() == [_words("a")]
    assert skip["question"].tolist() == ["what is  2+2?", _words("a")]
    assert report["settings"]["short_questions"] == "skip"
    assert reference_contaminated(["what is  2+2?"], ["What is 2+2?"], 8, "skip") == set()


@pytest.mark.parametrize("cfg,key", [({"exact_dedup": "fuzzy"}, "decontamination.exact_dedup"),
                                     ({"short_questions": "all"}, "decontamination.short_questions"),
                                     ({"sampling": "random"}, "decontamination.sampling"),
                                     ({"shuffle_seed": -1}, "decontamination.shuffle_seed"),
                                     ({"ngram": 0}, "decontamination.ngram"),
                                     ({"order": "s1"}, r"decontamination: unknown key\(s\) \['order'\]")])
def test_bad_settings_name_the_config_key(cfg, key):
    with pytest.raises(ConfigError, match=key):
        PoolSettings.from_config(cfg)


def test_decontaminate_flag_must_be_boolean():
    from s1flow.curate.sources import pool_source

    with pytest.raises(ConfigError, match=r"config sources\[aime\]\.decontaminate"):
        pool_source({"name": "aime", "decontaminate": "no"}, _frame(["q"]))


@pytest.mark.parametrize("name", ["s1-32b", "s1.1-32b"])
def test_paper_configs_decontaminate_against_exactly_s1s_four_sets(repo, name):
    import yaml

    cfg = yaml.safe_load((repo / "config" / "paper" / f"{name}.yaml").read_text())
    used = {e["name"]: e for e in cfg["eval_sets"] if e.get("decontaminate", True)}
    got = {(e["dataset"], e.get("config"), e["split"], e["question_field"], tuple(e.get("data_files") or ()))
           for e in used.values()}
    assert got == {
        ("AI-MO/aimo-validation-aime", None, "train", "problem", ()),
        ("Idavidrein/gpqa", "gpqa_diamond", "train", "Question", ()),
        ("simplescaling/openaimath", None, "test", "problem", ()),
        ("livecodebench/code_generation_lite", None, "train", "question_content",
         ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl")),  # release_v4, cumulative
    }
    settings = PoolSettings.from_config(cfg["decontamination"])
    assert settings == PoolSettings(ngram=8, cross_source=True, short_questions="skip", exact_dedup="raw",
                                    shuffle_sources=True, shuffle_seed=42, sampling="s1")
    last = cfg["sources"][-1]
    assert (last["preset"], last["decontaminate"]) == ("aime_1983_2024", False)
    assert all(s.get("decontaminate", True) for s in cfg["sources"][:-1])


@pytest.mark.realdata
def test_real_math_test_pool_follows_s1s_order(shared_data):
    import datasets

    from s1flow.curate.sources import presets

    norm = presets.PRESETS["openaimath"].normalise(read_table(shared_data / "pool" / "math_test_5000.csv"),
                                                   where="math_test_5000.csv")
    math500 = read_table(shared_data / "eval" / "math500_test.jsonl")["problem"].tolist()
    paper = PoolSettings(short_questions="skip", exact_dedup="raw", shuffle_sources=True, shuffle_seed=42)
    pool, report = build_pool([("openaimath", norm)], {"openaimath_test": math500}, settings=paper)
    texts = norm["question"].tolist()
    hit = reference_contaminated(texts, math500, 8, "skip")
    assert report["totals"]["eval_overlap"] == len(hit) >= 500
    # s1's own steps with datasets: select the survivors, shuffle(seed=42), drop raw duplicates
    ds = datasets.Dataset.from_dict({"question": texts}).select(list(set(range(len(texts))) - hit))
    expected = list(dict.fromkeys(ds.shuffle(seed=42)["question"]))
    assert pool["question"].tolist() == expected
