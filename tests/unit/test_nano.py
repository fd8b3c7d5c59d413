"""Tests for the seeded synthetic problem generator (s1flow.nano).

Answers are re-derived from the question text with independent code (regexes, a tiny
expression parser, math.gcd, int(..., base)), never from the generator's own helpers.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from s1flow import nano
from s1flow.curate.pool import COT_TYPES, NORMALISED_COLUMNS, question_hash, validate_normalised
from s1flow.nano import (
    DOMAINS,
    EVAL_COLUMNS,
    SYNTHETIC_POOL_COLUMNS,
    generate_eval_sets,
    generate_pool,
    generate_problem,
)
from s1flow.nano.tasks import iteration

N = 3000
SEED = 7


@pytest.fixture(scope="module")
def eval_sets() -> dict[str, pd.DataFrame]:
    return generate_eval_sets(SEED)


@pytest.fixture(scope="module")
def pool(eval_sets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return generate_pool(N, SEED, eval_sets=eval_sets)


@pytest.fixture(scope="module")
def meta(pool: pd.DataFrame) -> pd.Series:
    return pool["metadata"].map(json.loads)


@pytest.fixture(scope="module")
def base(pool: pd.DataFrame, meta: pd.Series) -> pd.DataFrame:
    """Original (non-mess) rows with their difficulty."""
    out = pool[meta.map(lambda m: m["mess"] is None)].copy()
    out["difficulty"] = meta[out.index].map(lambda m: m["difficulty"])
    return out


def norm(q: str) -> str:
    return " ".join(q.lower().split())


def ngrams(q: str, n: int = 8) -> set[str]:
    words = norm(q).split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def extract_answer(attempt: str) -> str:
    m = re.search(r"\\boxed\{([^{}]*)\}", attempt)
    if m:
        return m.group(1)
    tail = attempt.rsplit("Answer:", 1)[1].strip()
    m = re.fullmatch(r"\(([A-D])\)", tail)
    return m.group(1) if m else tail


def s1_quality_ok(question: str) -> bool:
    """s1's formatting filter (data/filter.ipynb), re-implemented for the test."""
    if "[asy]" in question or "![Image]" in question:
        return False
    if any(f"p{i}." in question for i in range(1, 1000)):
        return False
    return re.search(r"\*\*(?=.*\d)[^\s\]]*\*\*", question) is None


# ------------------------------------------------------------------------------------------
# determinism and shape


def test_same_seed_same_frame_different_seed_different() -> None:
    a = generate_pool(400, 3)
    b = generate_pool(400, 3)
    pd.testing.assert_frame_equal(a, b)
    c = generate_pool(400, 4)
    assert a["question"].tolist() != c["question"].tolist()
    assert len(set(a["question"]) & set(c["question"])) < 20


def test_same_args_same_frame_with_explicit_rates() -> None:
    kw = {"duplicate_rate": 0.05, "junk_rate": 0.1, "eval_overlap": 0.01}
    pd.testing.assert_frame_equal(generate_pool(300, 9, **kw), generate_pool(300, 9, **kw))


def test_eval_sets_deterministic_and_seed_dependent() -> None:
    a, b, c = generate_eval_sets(5, 10), generate_eval_sets(5, 10), generate_eval_sets(6, 10)
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
        assert a[name]["question"].tolist() != c[name]["question"].tolist()


def test_generate_problem_deterministic_and_typed() -> None:
    for domain in DOMAINS:
        for d in range(1, 6):
            p1 = generate_problem(domain, d, np.random.default_rng([d, 1]))
            p2 = generate_problem(domain, d, np.random.default_rng([d, 1]))
            assert p1 == p2
            assert isinstance(p1["question"], str) and p1["question"]
            assert isinstance(p1["answer"], str) and p1["answer"]
            assert isinstance(p1["trace"], str) and isinstance(p1["attempt"], str)
            assert isinstance(p1["teacher_correct"], bool)
            assert (p1["choices"] is not None) == (domain == "multiple_choice")


def test_generate_problem_rejects_bad_arguments() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="domain"):
        generate_problem("astrology", 1, rng)
    with pytest.raises(ValueError, match="difficulty"):
        generate_problem("arithmetic", 6, rng)
    with pytest.raises(ValueError):
        generate_pool(0, 1)
    with pytest.raises(ValueError):
        generate_pool(100, 1, junk_rate=0.9)


def test_pool_columns_and_types(pool: pd.DataFrame) -> None:
    assert len(pool) == N
    assert list(pool.columns) == SYNTHETIC_POOL_COLUMNS
    validate_normalised(pool[NORMALISED_COLUMNS], "synthetic pool")
    assert pool["teacher_correct"].dtype == bool
    for col in ("question", "solution", "cot_type", "source", "metadata", "domain", "trace", "attempt"):
        assert pool[col].map(lambda v: isinstance(v, str) and v != "").all(), col
    plain = pool["source"] == "synthetic/" + pool["domain"]
    bench = pool["source"] == pool["domain"].map(nano.BENCHMARK_LIKE_SOURCES)
    assert (plain | bench).all() and bench.any()
    difficulty = pool["metadata"].map(lambda m: json.loads(m)["difficulty"])
    assert (difficulty[bench] == 5).all()
    assert pool["cot_type"].isin(COT_TYPES).all()
    assert (pool["cot_type"] == pool["domain"].map(DOMAINS)).all()
    assert pool.index.equals(pd.RangeIndex(N))


def test_at_least_eight_domains(pool: pd.DataFrame) -> None:
    assert len(DOMAINS) >= 8
    counts = pool["domain"].value_counts()
    assert set(counts.index) == set(DOMAINS)
    assert (counts >= 0.02 * N).all()
    assert {"arithmetic", "letter_count", "modular", "base_conversion", "gcd_lcm", "sorting",
            "linear_equations", "multiple_choice"} <= set(DOMAINS)  # fmt: skip


def test_domain_restriction() -> None:
    df = generate_pool(200, 1, domains=["gcd_lcm", "sorting"])
    planted = df["metadata"].map(lambda m: json.loads(m)["mess"] == "eval_overlap")
    base_domains = set(df.loc[~planted, "domain"])
    assert base_domains == {"gcd_lcm", "sorting"}


def test_metadata_is_json_with_difficulty(pool: pd.DataFrame, meta: pd.Series) -> None:
    for m in meta:
        assert isinstance(m, dict)
        assert {"difficulty", "kind", "params", "mess"} <= set(m)
        if m["mess"] != "eval_overlap":
            assert m["difficulty"] in (1, 2, 3, 4, 5)
    diffs = meta.map(lambda m: m["difficulty"]).dropna()
    assert set(diffs) == {1, 2, 3, 4, 5}


# ------------------------------------------------------------------------------------------
# answers re-derived from the question text


def _expr_value(text: str) -> int:
    tokens = re.findall(r"\d+|[-+*()]", text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def factor() -> int:
        tok = take()
        if tok == "(":
            v = expr()
            assert take() == ")"
            return v
        if tok == "-":
            return -factor()
        return int(tok)

    def term() -> int:
        v = factor()
        while peek() == "*":
            take()
            v *= factor()
        return v

    def expr() -> int:
        v = term()
        while peek() in ("+", "-"):
            v = v + term() if take() == "+" else v - term()
        return v

    value = expr()
    assert pos == len(tokens)
    return value


def _to_base(x: int, b: int) -> str:
    digits = "0123456789ABCDEF"
    out = ""
    while x:
        out = digits[x % b] + out
        x //= b
    return out or "0"


def _linear_side(side: str) -> tuple[dict[str, int], int]:
    s = side.replace(" ", "")
    if not s.startswith(("+", "-")):
        s = "+" + s
    coefs: dict[str, int] = {}
    const = 0
    for sign, digits, var in re.findall(r"([+-])(\d*)([xyz]?)", s):
        if not digits and not var:
            continue
        c = int(digits or 1) * (1 if sign == "+" else -1)
        if var:
            coefs[var] = coefs.get(var, 0) + c
        else:
            const += c
    return coefs, const


def recompute(domain: str, q: str) -> str | None:
    """Independent answer for the question, or None when this test doesn't parse that template."""
    if domain == "letter_count":
        letter = re.search(r"'([a-z])'", q).group(1)
        text = re.search(r'"([^"]+)"', q).group(1)
        return str(text.count(letter))
    if domain == "gcd_lcm":
        nums = [int(x) for x in re.findall(r"\d+", q)]
        if "greatest common divisor" in q or "gcd(" in q or "largest number of groups" in q:
            return str(math.gcd(*nums))
        if "least common multiple" in q or "lcm(" in q or "blink together" in q:
            return str(math.lcm(*nums))
        return None
    if domain == "base_conversion":
        digits, b1 = re.search(r"\$([0-9A-F]+)_\{(\d+)\}\$", q).groups()
        b2 = int(re.search(r"base (\d+)", q).group(1))
        return _to_base(int(digits, int(b1)), b2)
    if domain == "sorting":
        nums = [int(x) for x in re.findall(r"(?<![\w-])-?\d+(?!\w)", q)]
        desc = "descending" in q or "largest" in q
        ordered = sorted(nums, reverse=desc)
        m = re.search(r"(\d+)(?:st|nd|rd|th)", q)
        return str(ordered[int(m.group(1)) - 1]) if m else ", ".join(map(str, ordered))
    if domain == "modular":
        m = re.search(r"(?:divided by|divides it by|groups of|modulo|mod) (\d+)", q)
        mod = int(m.group(1))
        if p := re.search(r"(\d+)\^(\d+)", q):
            return str(pow(int(p.group(1)), int(p.group(2)), mod))
        if p := re.search(r"(\d+) × (\d+)", q):
            return str(int(p.group(1)) * int(p.group(2)) % mod)
        return str(int(re.search(r"\d+", q).group(0)) % mod)
    if domain == "arithmetic":
        return str(_expr_value(re.search(r"[\d(][\d\s+\-*()]*[\d)]", q).group(0)))
    if domain == "iteration":
        return str(iterate_rule(q))
    if domain == "combinatorics":
        if m := re.search(r"choose (\d+) of (\d+)", q) or re.search(r"pick (\d+) \w+ from a set of (\d+)", q):
            return str(math.comb(int(m.group(2)), int(m.group(1))))
        return None
    return None


def iterate_rule(q: str) -> int:
    """Apply the question's digit rule as many times as it says (the iteration domain)."""
    start = int(re.search(r"(?:with|from|shows|number) (\d)\b", q).group(1))
    op, c = re.search(r"(add|multiply by) (\d)", q).groups()
    n = int(re.search(r"(\d+) (?:times|ticks|rounds)", q).group(1))
    v = start
    for _ in range(n):
        v = (v + int(c) if op == "add" else v * int(c)) % 10
    return v


def test_answers_recomputed_from_question_text(base: pd.DataFrame) -> None:
    checked: dict[str, int] = {}
    for row in base.itertuples():
        expected = recompute(row.domain, row.question)
        if expected is None:
            continue
        assert row.solution == expected, (row.domain, row.question, row.solution, expected)
        checked[row.domain] = checked.get(row.domain, 0) + 1
    for domain in ("letter_count", "gcd_lcm", "base_conversion", "sorting", "modular", "arithmetic", "iteration"):
        assert checked.get(domain, 0) >= 50, (domain, checked)
    assert checked.get("combinatorics", 0) >= 10


def test_linear_equation_solutions_satisfy_the_equations(base: pd.DataFrame) -> None:
    rows = base[base["domain"] == "linear_equations"]
    assert len(rows) > 50
    for row in rows.itertuples():
        eqs = re.findall(r"([-+\dxyz ]*[xyz][-+\dxyz ]*) = ([-+\dxyz ]+?)(?=[.,;]|\s+and\s|$)", row.question)
        assert eqs, row.question
        vals = [Fraction(v) for v in row.solution.strip("()").split(",")]
        env = dict(zip("xyz", vals, strict=False))
        for lhs, rhs in eqs:
            lc, lk = _linear_side(lhs)
            rc, rk = _linear_side(rhs)
            total = sum(c * env[v] for v, c in lc.items()) + lk - sum(c * env[v] for v, c in rc.items()) - rk
            assert total == 0, (row.question, row.solution)


def test_prime_multiple_choice_answer_is_the_prime(base: pd.DataFrame) -> None:
    rows = base[(base["domain"] == "multiple_choice") & base["question"].str.contains("prime")]
    assert len(rows) > 5
    for row in rows.itertuples():
        opts = dict(re.findall(r"^\(([A-D])\) (\d+)$", row.question, flags=re.M))
        primes = [k for k, v in opts.items() if all(int(v) % p for p in range(2, math.isqrt(int(v)) + 1))]
        assert primes == [row.solution]


def test_multiple_choice_pool_format(base: pd.DataFrame, meta: pd.Series) -> None:
    rows = base[base["domain"] == "multiple_choice"]
    assert rows["solution"].isin(list("ABCD")).all()
    for idx, row in rows.iterrows():
        letters = re.findall(r"^\(([A-D])\) ", row["question"], flags=re.M)
        assert letters == list("ABCD")
        choices = meta[idx]["choices"]
        assert len(choices) == 4 and len(set(choices)) == 4
        assert choices["ABCD".index(row["solution"])] == meta[idx]["params"]["correct_option"]


def test_teacher_correct_matches_the_attempt(base: pd.DataFrame) -> None:
    extracted = base["attempt"].map(extract_answer)
    assert ((extracted == base["solution"]) == base["teacher_correct"]).all()
    # the trace ends on the same answer as the attempt
    last = base["trace"].str.rsplit("\n\n", n=1).str[-1]
    assert all(a in t for a, t in zip(extracted, last, strict=True))


def test_teacher_error_rate_grows_with_difficulty(base: pd.DataFrame) -> None:
    err = 1 - base.groupby("difficulty")["teacher_correct"].mean()
    assert err[1] < 0.08
    assert 0.12 < err[5] < 0.40
    assert err[5] > err[3] > err[1]
    assert 0.03 < 1 - base["teacher_correct"].mean() < 0.25


def test_trace_length_grows_with_difficulty(base: pd.DataFrame) -> None:
    words = base["trace"].str.split().str.len()
    means = words.groupby(base["difficulty"]).mean()
    assert list(means.index) == [1, 2, 3, 4, 5]
    assert all(means[d] < means[d + 1] for d in range(1, 5)), means.to_dict()
    assert 25 <= means[1] <= 80
    assert means[5] >= 200
    assert words.groupby(base["difficulty"]).std().min() > 5  # some variation within a level
    # per domain too: hardest level is longer than the easiest
    by_dom = words.groupby([base["domain"], base["difficulty"]]).mean().unstack()
    assert (by_dom[5] > by_dom[1] * 1.5).all()


def test_traces_work_the_problem_and_self_verify(base: pd.DataFrame) -> None:
    checks = base["trace"].str.contains(r"(?:Wait|Hold on|Hmm), let me (?:double-check|verify|re-check)")
    rate = checks.groupby(base["difficulty"]).mean()
    assert 0.02 < rate[1] < 0.3 and rate[5] > 0.4
    # a gcd trace shows the Euclidean algorithm with real remainders
    gcd_traces = base.loc[base["domain"] == "gcd_lcm", "trace"]
    assert gcd_traces.str.contains(r"\d+ = \d+ × \d+ \+ \d+").all()


# ------------------------------------------------------------------------------------------
# the mess: duplicates, near-duplicates, junk, eval overlaps


def test_exact_duplicates_at_requested_rate(pool: pd.DataFrame, meta: pd.Series) -> None:
    dup = pool["question"].duplicated()
    assert abs(dup.sum() - 0.03 * N) <= 0.01 * N
    kinds = meta.map(lambda m: m["mess"])
    # in each group of identical questions, one is the original and the others are marked copies
    in_group = pool["question"].duplicated(keep=False)
    for _, group in kinds[in_group].groupby(pool.loc[in_group, "question"]):
        assert (group == "duplicate").sum() == len(group) - 1
    assert (kinds == "duplicate").sum() == dup.sum()
    hashes = set(pool["question"].map(question_hash))
    assert all(m["of"] in hashes for m in meta[kinds == "duplicate"])


def test_near_duplicates_differ_only_in_whitespace_or_case(pool: pd.DataFrame, meta: pd.Series) -> None:
    kinds = meta.map(lambda m: m["mess"])
    near = pool[kinds == "near_duplicate"]
    assert abs(len(near) - 0.01 * N) <= 0.005 * N
    by_hash = dict(zip(pool["question"].map(question_hash), pool["question"], strict=True))
    for idx, row in near.iterrows():
        original = by_hash[meta[idx]["of"]]
        assert row["question"] != original
        assert norm(row["question"]) == norm(original)
        assert ngrams(row["question"]) & ngrams(original)  # 8-gram dedup sees them
    n_norm_dups = pool["question"].map(norm).duplicated().sum() - pool["question"].duplicated().sum()
    assert n_norm_dups == len(near)


def test_no_accidental_duplicates(pool: pd.DataFrame, meta: pd.Series, eval_sets: dict) -> None:
    kinds = meta.map(lambda m: m["mess"])
    originals = pool.loc[kinds.isna() | (kinds == "junk"), "question"].map(norm)
    assert not originals.duplicated().any()
    eval_norm = {norm(q) for df in eval_sets.values() for q in df["question"]}
    assert not set(pool.loc[kinds != "eval_overlap", "question"].map(norm)) & eval_norm


def test_quality_filter_junk(pool: pd.DataFrame, meta: pd.Series) -> None:
    kinds = meta.map(lambda m: m["mess"])
    bad = ~pool["question"].map(s1_quality_ok)
    assert abs(bad.sum() - 0.03 * N) <= 0.01 * N
    assert (kinds[bad] == "junk").all()  # clean rows never trip the filter
    assert bad[kinds == "junk"].all()  # and every junk row does
    q = pool.loc[bad, "question"]
    assert q.str.contains("[asy]", regex=False).any()
    assert q.str.contains("![Image]", regex=False).any()
    assert q.str.contains(r"\*\*(?=.*\d)[^\s\]]*\*\*").any()
    assert q.map(lambda s: any(f"p{i}." in s for i in range(1, 1000))).any()


def test_eval_overlaps_planted(pool: pd.DataFrame, meta: pd.Series, eval_sets: dict) -> None:
    kinds = meta.map(lambda m: m["mess"])
    planted = pool[kinds == "eval_overlap"]
    assert abs(len(planted) - 0.004 * N) <= 0.003 * N
    eval_q = {
        f"{name}/{i}": q
        for name, df in eval_sets.items()
        for i, q in zip(df["id"], df["question"], strict=True)
    }
    eval_grams = set().union(*(ngrams(q) for q in eval_q.values()))
    verbatim = 0
    for idx, row in planted.iterrows():
        m = meta[idx]
        source_q = eval_q[f"{m['eval_set']}/{m['eval_id']}"]
        assert source_q in row["question"]
        verbatim += row["question"] == source_q
        assert ngrams(row["question"]) & eval_grams
    assert 0 < verbatim < len(planted)  # both verbatim copies and copies with extra words
    # nothing else shares an 8-gram with the eval sets (decontamination removes only the plants)
    others = pool.loc[kinds != "eval_overlap", "question"]
    assert others.map(lambda q: bool(ngrams(q) & eval_grams)).mean() <= 0.005


def test_pool_plants_overlaps_from_eval_seed_when_sets_not_given() -> None:
    ev = generate_eval_sets(21)
    df = generate_pool(500, 2, eval_seed=21)
    eval_q = {q for d in ev.values() for q in d["question"]}
    kinds = df["metadata"].map(lambda m: json.loads(m)["mess"])
    planted = df.loc[kinds == "eval_overlap", "question"]
    assert len(planted) >= 1
    assert all(any(q in p for q in eval_q) for p in planted)


# ------------------------------------------------------------------------------------------
# eval sets


def test_eval_sets_shape(eval_sets: dict[str, pd.DataFrame]) -> None:
    assert {"synth_arith", "synth_mixed", "synth_mc"} <= set(eval_sets)
    all_q = []
    for name, df in eval_sets.items():
        assert list(df.columns) == EVAL_COLUMNS
        assert len(df) == 40
        assert df["id"].is_unique and df["id"].map(lambda v: isinstance(v, str)).all()
        assert df["answer"].map(lambda v: isinstance(v, str) and v != "").all()
        assert df["domain"].isin(list(DOMAINS)).all()
        all_q += df["question"].map(norm).tolist()
        if name != "synth_mc":
            assert df["choices"].isna().all()
            assert (df["domain"] != "multiple_choice").all()
    assert len(all_q) == len(set(all_q))
    assert set(eval_sets["synth_arith"]["domain"]) == {"arithmetic", "modular", "gcd_lcm"}
    assert len(set(eval_sets["synth_mixed"]["domain"])) >= 8


def test_eval_mc_letters_and_choices(eval_sets: dict[str, pd.DataFrame]) -> None:
    mc = eval_sets["synth_mc"]
    assert (mc["domain"] == "multiple_choice").all()
    assert mc["answer"].isin(list("ABCD")).all()
    assert mc["answer"].nunique() >= 3  # the correct letter is shuffled
    for row in mc.itertuples():
        choices = json.loads(row.choices)
        assert isinstance(choices, list) and len(choices) == 4 and len(set(choices)) == 4
        for letter, choice in zip("ABCD", choices, strict=True):
            assert f"({letter}) {choice}" in row.question


def test_eval_answers_recomputed(eval_sets: dict[str, pd.DataFrame]) -> None:
    n = 0
    for df in eval_sets.values():
        for row in df.itertuples():
            expected = recompute(row.domain, row.question)
            if expected is not None:
                assert row.answer == expected, (row.question, row.answer)
                n += 1
    assert n >= 30


def test_eval_set_size_parameter() -> None:
    sets = generate_eval_sets(1, n_per_set=5)
    assert all(len(df) == 5 for df in sets.values())


def test_iteration_trace_has_one_line_per_step() -> None:
    rng = np.random.default_rng(5)
    for d in (1, 3, 5):
        p = generate_problem("iteration", d, rng)
        n = int(re.search(r"(\d+) (?:times|ticks|rounds)", p["question"]).group(1))
        assert iteration._ITER_STEPS[d - 1][0] <= n <= iteration._ITER_STEPS[d - 1][1]
        steps = re.findall(rf"^Step (\d+) of {n}: ", p["trace"], flags=re.M)
        assert [int(k) for k in steps[:n]] == list(range(1, n + 1))
        if p["teacher_correct"]:
            assert p["answer"] == str(iterate_rule(p["question"]))
            assert f"so I end with {p['answer']}." in p["trace"]


def test_eval_steps_set_is_multi_step_iteration(eval_sets: dict[str, pd.DataFrame]) -> None:
    steps = eval_sets["synth_steps"]
    assert (steps["domain"] == "iteration").all()
    for row in steps.itertuples():
        assert row.answer == str(iterate_rule(row.question))
        assert int(re.search(r"(\d+) (?:times|ticks|rounds)", row.question).group(1)) >= 3
        # the answer is never the start digit, so a model cut off before the steps cannot copy it
        assert row.answer != re.search(r"(?:with|from|shows|number) (\d)\b", row.question).group(1)


def test_worked_solutions_are_correct_fresh_and_seeded() -> None:
    a = nano.generate_worked_solutions(60, seed=3, domains=["iteration", "letter_count"])
    assert a.equals(nano.generate_worked_solutions(60, seed=3, domains=["iteration", "letter_count"]))
    assert not a.equals(nano.generate_worked_solutions(60, seed=4, domains=["iteration", "letter_count"]))
    assert list(a["domain"].value_counts().sort_index()) == [30, 30]
    for row in a[a["domain"] == "iteration"].itertuples():
        assert row.answer == str(iterate_rule(row.question))
    with pytest.raises(ValueError, match="unknown synthetic domain"):
        nano.generate_worked_solutions(5, seed=3, domains=["alchemy"])


def test_worked_solutions_take_domain_shares() -> None:
    shares = {"iteration": 3.0, "modular": 1.0}
    assert nano.domain_schedule(8, shares) == ["iteration", "iteration", "modular", "iteration"] * 2
    a = nano.generate_worked_solutions(40, seed=5, domains=shares)
    assert a["domain"].value_counts().to_dict() == {"iteration": 30, "modular": 10}
    # equal shares are the plain list, row for row
    equal = nano.generate_worked_solutions(20, seed=5, domains={"iteration": 2.0, "letter_count": 2.0})
    assert equal.equals(nano.generate_worked_solutions(20, seed=5, domains=["iteration", "letter_count"]))
    with pytest.raises(ValueError, match="must be > 0: modular=0"):
        nano.generate_worked_solutions(5, seed=5, domains={"iteration": 1.0, "modular": 0})


def test_worked_solutions_phrasing_families() -> None:
    pool = nano.generate_worked_solutions(40, seed=6, domains=["iteration"])
    assert pool["question"].str.startswith(("Start with", "A counter")).sum() + pool["question"].str.contains(
        "starts with the number").sum() == 40
    mixed = nano.generate_worked_solutions(40, seed=6, domains=["iteration"], phrasing="any")
    paraphrased = mixed["question"].str.contains("keep just the last digit")
    assert 5 < paraphrased.sum() < 35  # both families occur
    for row in mixed.itertuples():
        assert row.answer == str(iterate_rule(row.question))
    with pytest.raises(ValueError, match="phrasing must be"):
        nano.generate_worked_solutions(5, seed=6, domains=["iteration"], phrasing="formal")
