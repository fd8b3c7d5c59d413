"""Assembling the generator's outputs: single problems, eval sets, worked solutions and the pool.

:func:`generate_problem` makes one problem of a task family (see :mod:`s1flow.nano.tasks`) and
lengthens hard teacher traces the way reasoning models do. :func:`generate_eval_sets`,
:func:`generate_worked_solutions` and :func:`generate_pool` build the workflow's tables from it.

Randomness only comes from ``numpy.random.default_rng`` seeded with integer sequences
derived from the caller's seed (never the global random state, never ``hash()``), so the
same arguments give an identical DataFrame.

Eval questions use their own phrasing templates (as real benchmarks are phrased differently
from training pools), so a pool question shares word 8-grams with an eval question only when
it was planted as an overlap (or, rarely, by accident through numbers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from s1flow.curate.pool import NORMALISED_COLUMNS, metadata_json, question_hash
from s1flow.nano.core import CHECKS, OPENERS, Problem, Rand, conclude
from s1flow.nano.tasks import GENERATORS

#: domain name -> s1 ``cot_type``.
DOMAINS: dict[str, str] = {
    "arithmetic": "math",
    "letter_count": "english",
    "modular": "math",
    "base_conversion": "math",
    "gcd_lcm": "math",
    "sorting": "coding",
    "linear_equations": "math",
    "multiple_choice": "science",
    "sequences": "math",
    "combinatorics": "math",
    "iteration": "math",
}

#: relative frequency of each domain in a generated pool (real pools are unbalanced too).
DOMAIN_WEIGHTS: dict[str, float] = {
    "arithmetic": 0.14,
    "letter_count": 0.07,
    "modular": 0.11,
    "base_conversion": 0.08,
    "gcd_lcm": 0.10,
    "sorting": 0.07,
    "linear_equations": 0.12,
    "multiple_choice": 0.12,
    "sequences": 0.09,
    "combinatorics": 0.10,
    "iteration": 0.12,
}

#: probability that the teacher's trace ends in a wrong answer, by difficulty 1..5.
TEACHER_ERROR_RATE: tuple[float, ...] = (0.03, 0.07, 0.12, 0.18, 0.25)
_POOL_DIFFICULTY_P = (0.22, 0.22, 0.20, 0.18, 0.18)

SYNTHETIC_POOL_COLUMNS = [*NORMALISED_COLUMNS, "trace", "attempt", "teacher_correct"]
EVAL_COLUMNS = ["id", "question", "answer", "domain", "choices"]

#: eval set name -> (domains, allowed difficulties).
_EVAL_SPECS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "synth_arith": (("arithmetic", "modular", "gcd_lcm"), (3, 4, 5)),
    "synth_mixed": (tuple(d for d in DOMAINS if d != "multiple_choice"), (1, 2, 3, 4, 5)),
    "synth_mc": (("multiple_choice",), (2, 3, 4, 5)),
    "synth_steps": (("iteration",), (2, 3, 4, 5)),
}
EVAL_SET_NAMES: tuple[str, ...] = tuple(_EVAL_SPECS)
#: question wording families: the pool's templates, the eval sets' paraphrases, or either
PHRASINGS: tuple[str, ...] = ("pool", "eval", "any")

# Stream identifiers mixed into the seed so the pool, the mess and the eval sets never share
# random numbers even when they are given the same seed.
_STREAM_POOL = 0x5001
_STREAM_MESS = 0x5002
_STREAM_EVAL = 0xE7A1
_STREAM_WORKED = 0x3017


def normalise_question(question: str) -> str:
    """Lower-case and collapse whitespace (the text s1's 8-gram decontamination compares)."""
    return " ".join(question.lower().split())


# --------------------------------------------------------------------------------------------
# problems: a task family's problem, with hard traces lengthened


_REDO_RATE = (0.0, 0.05, 0.25, 0.55, 0.85)
_PLANS = (
    "This needs several steps, so I'll write down every intermediate value instead of doing it in my head.",
    "There are a few places where it's easy to slip here, so I'll go slowly.",
    "Let me first think about the cleanest way to organise the computation.",
    "I'll work it out fully and then check it, since a small slip would change the answer.",
)
_REDO_INTROS = (
    "Let me go through the whole computation once more from scratch, to be safe.",
    "Hmm, before I commit, let me redo the main steps carefully.",
    "Wait, let me recompute everything again step by step to make sure.",
)
_REDO_OUTROS = (
    "Same result as before, good.",
    "That matches what I had.",
    "Okay, the second pass agrees with the first.",
)


def _elaborate(r: Rand, d: int, trace: str) -> str:
    """Lengthen hard traces the way reasoning models do: a plan and a second full pass."""
    paras = trace.split("\n\n")
    if len(paras) < 3:
        return trace
    end = next((i for i in range(1, len(paras)) if paras[i].startswith(CHECKS)), len(paras) - 1)
    work = paras[1:end]
    if d >= 3 and r.chance(0.15 * d):
        paras.insert(1, r.choice(_PLANS))
    if work and r.chance(_REDO_RATE[d - 1]):
        paras[-1:-1] = [r.choice(_REDO_INTROS), *work, r.choice(_REDO_OUTROS)]
    return "\n\n".join(paras)


def _make(domain: str, difficulty: int, r: Rand, style: str) -> Problem:
    if domain not in GENERATORS:
        raise ValueError(f"unknown synthetic domain {domain!r}; known: {', '.join(DOMAINS)}")
    if difficulty not in (1, 2, 3, 4, 5):
        raise ValueError(f"difficulty must be an int in 1..5, got {difficulty!r}")
    if style == "any":
        style = "pool" if r.chance(0.5) else "eval"
    wrong = r.chance(TEACHER_ERROR_RATE[difficulty - 1])
    p = GENERATORS[domain](r, difficulty, wrong, style)
    p.trace = _elaborate(r, difficulty, p.trace)
    return p


def generate_problem(
    domain: str, difficulty: int, rng: np.random.Generator, *, style: str = "pool"
) -> dict[str, Any]:
    """Generate one problem of `domain` at `difficulty` (1..5) from `rng`.

    Returns a dict with ``question``, ``answer`` (reference answer string; a letter A-D for
    multiple choice), ``trace`` (teacher thinking that works the problem step by step),
    ``attempt`` (the teacher's final answer text), ``teacher_correct`` (bool), plus
    ``kind``, ``params`` (generator parameters) and ``choices`` (list of 4 option texts for
    multiple choice, else None). `style` picks the phrasing family: "pool" or "eval".
    """
    if style not in ("pool", "eval"):
        raise ValueError(f"style must be 'pool' or 'eval', got {style!r}")
    p = _make(domain, int(difficulty), Rand(rng, block=64), style)
    return {
        "question": p.question,
        "answer": p.answer,
        "trace": p.trace,
        "attempt": p.attempt,
        "teacher_correct": p.correct,
        "kind": p.kind,
        "params": p.params,
        "choices": p.choices,
    }


# --------------------------------------------------------------------------------------------
# eval sets and worked solutions


def _eval_problems(seed: int, n_per_set: int) -> dict[str, list[tuple[str, int, Problem]]]:
    out: dict[str, list[tuple[str, int, Problem]]] = {}
    seen: set[str] = set()
    for si, (name, (domains, diffs)) in enumerate(_EVAL_SPECS.items()):
        r = Rand(np.random.default_rng([int(seed), _STREAM_EVAL, si]))
        rows: list[tuple[str, int, Problem]] = []
        while len(rows) < n_per_set:
            domain = domains[len(rows) % len(domains)]
            diff = r.choice(diffs)
            for _try in range(50):
                p = _make(domain, diff, r, "eval")
                key = normalise_question(p.question)
                if key not in seen:
                    break
                diff = min(5, diff + (_try % 2))
            else:  # pragma: no cover - the eval question space is far larger than any set
                raise RuntimeError(f"could not generate {n_per_set} distinct questions for {name}")
            seen.add(key)
            rows.append((domain, diff, p))
        out[name] = rows
    return out


def generate_eval_sets(seed: int, n_per_set: int = 40) -> dict[str, pd.DataFrame]:
    """Held-out evaluation sets: ``synth_arith`` (arithmetic/modular/gcd, difficulty 3-5,
    "AIME-like"), ``synth_mixed`` (all non-MC domains, "MATH500-like") and ``synth_mc``
    (4-option multiple choice, answer a letter, "GPQA-like") and ``synth_steps`` (iterating a
    digit rule 3-10 times: easy steps, many of them - the multi-step set on which thinking longer pays).

    Columns :data:`EVAL_COLUMNS`: ``id`` (str), ``question``, ``answer`` (str), ``domain``,
    ``choices`` (JSON list of the 4 option texts for multiple choice, else None). Eval
    questions use their own phrasing templates and random stream, and are distinct across sets.
    """
    if n_per_set < 1:
        raise ValueError(f"n_per_set must be >= 1, got {n_per_set}")
    sets = {}
    for name, rows in _eval_problems(seed, n_per_set).items():
        sets[name] = pd.DataFrame(
            {
                "id": [f"{name}-{i:04d}" for i in range(len(rows))],
                "question": [p.question for _, _, p in rows],
                "answer": [p.answer for _, _, p in rows],
                "domain": [dom for dom, _, _ in rows],
                "choices": [json.dumps(p.choices) if p.choices is not None else None for _, _, p in rows],
            },
            columns=EVAL_COLUMNS,
        )
    return sets


def domain_schedule(n: int, weights: Mapping[str, float]) -> list[str]:
    """`n` domains interleaved in proportion to `weights` (smooth weighted round robin).

    Deterministic; equal weights give plain round robin in the mapping's order.
    """
    total = float(sum(weights.values()))
    credit = dict.fromkeys(weights, 0.0)
    out: list[str] = []
    for _ in range(n):
        for d, w in weights.items():
            credit[d] += w
        pick = max(credit, key=lambda d: credit[d])  # first of equals wins: the mapping's order
        credit[pick] -= total
        out.append(pick)
    return out


def generate_worked_solutions(n: int, seed: int, domains: Sequence[str] | Mapping[str, float], *,
                              phrasing: str = "pool") -> pd.DataFrame:
    """`n` fresh problems of `domains` (difficulty uniform in 1..5) whose teacher trace is correct.

    `domains` is a list (equal shares) or a mapping domain -> relative share. `phrasing` is the
    question wording family: "pool", "eval" (the eval sets' paraphrases) or "any" (each
    problem picks one of the two at random). Columns:
    ``question``, ``answer``, ``trace``, ``domain``. Drawn from their own random stream, so
    they share no random numbers with the pool or the eval sets of the same seed.
    """
    weights = dict(domains) if isinstance(domains, Mapping) else dict.fromkeys(domains, 1.0)
    unknown = [d for d in weights if d not in GENERATORS]
    if unknown or not weights:
        raise ValueError(f"unknown synthetic domain(s) {unknown or list(weights)}; known: {', '.join(DOMAINS)}")
    bad = [d for d, w in weights.items() if not float(w) > 0]
    if bad:
        raise ValueError(f"domain share(s) must be > 0: {', '.join(f'{d}={weights[d]}' for d in bad)}")
    if phrasing not in PHRASINGS:
        raise ValueError(f"phrasing must be 'pool', 'eval' or 'any', got {phrasing!r}")
    r = Rand(np.random.default_rng([int(seed), _STREAM_WORKED]), block=1024)
    rows: list[dict[str, str]] = []
    for domain in domain_schedule(n, {d: float(w) for d, w in weights.items()}):
        while True:
            p = _make(domain, r.randint(1, 5), r, phrasing)
            if p.correct:
                break
        rows.append({"question": p.question, "answer": p.answer, "trace": p.trace, "domain": domain})
    return pd.DataFrame(rows, columns=["question", "answer", "trace", "domain"])


# --------------------------------------------------------------------------------------------
# the messy pool


_JUNK_KINDS = ("asy", "image", "pmarker", "bold")
_OVERLAP_PREFIXES = (
    "Problem: ",
    "Solve the following. ",
    "Here is a question from a practice set. ",
    "Question. ",
)
_OVERLAP_SUFFIXES = (" Explain your reasoning.", " Show all of your work.", " Justify each step briefly.")


def _junk(r: Rand, question: str) -> tuple[str, str]:
    kind = r.choice(_JUNK_KINDS)
    if kind == "asy":
        x, y = r.randint(2, 9), r.randint(2, 9)
        fig = f'[asy]\ndraw((0,0)--({x},0)--({x},{y})--cycle);\nlabel("$A$",(0,0),SW);\n[/asy]'
        return kind, f"{question}\n\n{fig}" if r.chance(0.5) else f"{fig}\n\n{question}"
    if kind == "image":
        return kind, f"{question}\n\n![Image](https://example.org/figures/fig{r.randint(1, 9999)}.png)"
    if kind == "pmarker":
        return kind, f"p{r.randint(1, 40)}. {question}"
    if r.chance(0.5):
        return kind, f"**{r.randint(1, 30)}.** {question}"
    return kind, f"{question} **({r.randint(2, 9)}pts)**"


def _near_duplicate(r: Rand, question: str) -> str:
    words = question.split(" ")
    variant = r.randint(0, 2)
    if variant == 0:
        i = r.randint(0, max(0, len(words) - 2))
        words[i] = words[i] + " "  # a double space
        text = " ".join(words)
    elif variant == 1:
        text = question.lower() if question != question.lower() else question.upper()
        text = text + "\n"
    else:
        text = "  " + question.replace(" ", "\t", 1) + " "
    return text if text != question else question + " "


# Stand-ins for s1's benchmark-related sources (notebook step 4): the hardest modular
# problems play AIME, the hardest multiple-choice ones GPQA.
BENCHMARK_LIKE_SOURCES: dict[str, str] = {"modular": "synthetic/competition/modular",
                                          "multiple_choice": "synthetic/graduate/multiple_choice"}


def _source(domain: str, difficulty: int) -> str:
    """``synthetic/<domain>``, or a benchmark-like source for the hardest problems of some domains."""
    if difficulty == 5 and domain in BENCHMARK_LIKE_SOURCES:
        return BENCHMARK_LIKE_SOURCES[domain]
    return f"synthetic/{domain}"


def generate_pool(
    n: int,
    seed: int,
    *,
    duplicate_rate: float = 0.03,
    near_duplicate_rate: float = 0.01,
    junk_rate: float = 0.03,
    eval_overlap: float = 0.004,
    eval_sets: Mapping[str, pd.DataFrame] | None = None,
    eval_seed: int | None = None,
    domains: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A messy synthetic question pool of exactly `n` rows, deterministic in its arguments.

    Columns :data:`SYNTHETIC_POOL_COLUMNS`: the normalised pool columns (``question``,
    ``solution`` = reference answer, ``cot_type``, ``source`` = ``synthetic/<domain>`` (or a
    benchmark-like source from :data:`BENCHMARK_LIKE_SOURCES` at difficulty 5),
    ``metadata`` = JSON with ``difficulty``, ``kind``, ``params`` and ``mess``, ``domain``)
    plus ``trace``, ``attempt`` and ``teacher_correct``.

    The mess (marked in ``metadata.mess``, ``metadata.of`` = qhash of the original):
    ``duplicate`` exact copies (~duplicate_rate), ``near_duplicate`` copies differing only
    in whitespace/case (~near_duplicate_rate), ``junk`` questions carrying a marker s1's
    quality filter drops (``[asy]``, ``![Image]``, ``p{i}.``, ``**3.**``; ~junk_rate), and
    ``eval_overlap`` copies of eval questions, verbatim or with a few extra words
    (~eval_overlap, at most one per eval question). Eval questions come from `eval_sets` or,
    if None, from ``generate_eval_sets(eval_seed or seed)``; no other pool question equals an
    eval question or another pool question after lower-casing and whitespace collapsing.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    for label, rate in (("duplicate_rate", duplicate_rate), ("near_duplicate_rate", near_duplicate_rate),
                        ("junk_rate", junk_rate), ("eval_overlap", eval_overlap)):  # fmt: skip
        if not 0.0 <= rate <= 0.5:
            raise ValueError(f"{label} must be in [0, 0.5], got {rate}")
    dom_list = list(domains) if domains is not None else list(DOMAINS)
    for dom in dom_list:
        if dom not in DOMAINS:
            raise ValueError(f"unknown synthetic domain {dom!r}; known: {', '.join(DOMAINS)}")
    if eval_sets is None:
        eval_sets = generate_eval_sets(int(seed if eval_seed is None else eval_seed))
    eval_rows: list[tuple[str, pd.Series]] = []
    for name, df in eval_sets.items():
        for _, row in df.iterrows():
            eval_rows.append((name, row))
    seen = {normalise_question(str(row["question"])) for _, row in eval_rows}

    n_dup = round(duplicate_rate * n)
    n_near = round(near_duplicate_rate * n)
    n_overlap = min(len(eval_rows), round(eval_overlap * n))
    if eval_overlap > 0 and n_overlap == 0 and eval_rows and n >= 20:
        n_overlap = 1
    n_base = n - n_dup - n_near - n_overlap
    if n_base < 1:
        raise ValueError("the mess rates leave no room for original questions")
    n_junk = min(n_base, round(junk_rate * n))

    gen = np.random.default_rng([int(seed), _STREAM_POOL])
    weights = np.array([DOMAIN_WEIGHTS[d] for d in dom_list], dtype=float)
    dom_idx = gen.choice(len(dom_list), size=n_base, p=weights / weights.sum()).tolist()
    diffs = (gen.choice(5, size=n_base, p=_POOL_DIFFICULTY_P) + 1).tolist()
    r = Rand(gen, block=4096)

    rows: list[dict[str, Any]] = []
    for di, diff in zip(dom_idx, diffs, strict=True):
        domain = dom_list[di]
        d = diff
        for attempt in range(200):
            p = _make(domain, d, r, "pool")
            key = normalise_question(p.question)
            if key not in seen:
                break
            if attempt % 10 == 9:
                d = min(5, d + 1)  # small difficulty-1 spaces can run out in huge pools
        else:  # pragma: no cover
            raise RuntimeError(f"could not generate a new {domain} question; the pool is too large")
        seen.add(key)
        meta = {"difficulty": d, "kind": p.kind, "params": p.params, "mess": None}
        if p.choices is not None:
            meta["choices"] = p.choices
        rows.append(
            {"question": p.question, "solution": p.answer, "cot_type": DOMAINS[domain],
             "source": _source(domain, d), "domain": domain, "trace": p.trace,
             "attempt": p.attempt, "teacher_correct": p.correct, "_meta": meta}
        )  # fmt: skip

    mess = Rand(np.random.default_rng([int(seed), _STREAM_MESS]), block=1024)
    order = list(range(n_base))
    mess.shuffle(order)
    junk_idx, rest = order[:n_junk], order[n_junk:] or order
    for i in junk_idx:
        row = rows[i]
        kind, q = _junk(mess, row["question"])
        row["question"] = q
        row["_meta"]["mess"] = "junk"
        row["_meta"]["junk"] = kind

    extra: list[dict[str, Any]] = []

    def copy_of(src: dict[str, Any], question: str, how: str) -> dict[str, Any]:
        out = dict(src)
        out["question"] = question
        out["_meta"] = {**src["_meta"], "mess": how, "of": question_hash(src["question"])}
        out["_meta"].pop("junk", None)
        return out

    for _ in range(n_dup):
        src = rows[mess.choice(rest)]
        extra.append(copy_of(src, src["question"], "duplicate"))
    # near-duplicates come from questions long enough to have word 8-grams
    long_rest = [i for i in rest if len(rows[i]["question"].split()) >= 8] or rest
    for _ in range(n_near):
        src = rows[mess.choice(long_rest)]
        extra.append(copy_of(src, _near_duplicate(mess, src["question"]), "near_duplicate"))
    long_eval = [x for x in eval_rows if len(str(x[1]["question"]).split()) >= 8]
    overlap_src = long_eval if len(long_eval) >= n_overlap else eval_rows
    for j, (name, row) in enumerate(mess.sample(overlap_src, n_overlap)):
        q = str(row["question"])
        how = 0 if j % 2 == 0 else mess.randint(1, 3)  # alternate verbatim copies and copies with extra words
        if how == 1:
            q = mess.choice(_OVERLAP_PREFIXES) + q
        elif how == 2:
            q = q + mess.choice(_OVERLAP_SUFFIXES)
        elif how == 3:
            q = mess.choice(_OVERLAP_PREFIXES) + q + mess.choice(_OVERLAP_SUFFIXES)
        domain = str(row["domain"])
        answer = str(row["answer"])
        extra.append(
            {"question": q, "solution": answer, "cot_type": DOMAINS.get(domain, "math"),
             "source": f"synthetic/{domain}", "domain": domain,
             "trace": _overlap_trace(mess, q, answer), "attempt": f"The answer is $\\boxed{{{answer}}}$.",
             "teacher_correct": True,
             "_meta": {"difficulty": None, "kind": "eval_copy", "params": {}, "mess": "eval_overlap",
                       "eval_set": name, "eval_id": str(row["id"]), "verbatim": how == 0}}
        )  # fmt: skip

    all_rows = rows + extra
    perm = np.random.default_rng([int(seed), _STREAM_MESS, 1]).permutation(len(all_rows)).tolist()
    all_rows = [all_rows[i] for i in perm]
    out = pd.DataFrame(
        {
            "question": [x["question"] for x in all_rows],
            "solution": [x["solution"] for x in all_rows],
            "cot_type": [x["cot_type"] for x in all_rows],
            "source": [x["source"] for x in all_rows],
            "metadata": [metadata_json(x["_meta"]) for x in all_rows],
            "domain": [x["domain"] for x in all_rows],
            "trace": [x["trace"] for x in all_rows],
            "attempt": [x["attempt"] for x in all_rows],
            "teacher_correct": np.array([x["teacher_correct"] for x in all_rows], dtype=bool),
        },
        columns=SYNTHETIC_POOL_COLUMNS,
    )
    return out


def _overlap_trace(r: Rand, question: str, answer: str) -> str:
    """A plain teacher trace for a planted eval copy (its generator parameters are not known)."""
    head = " ".join(question.split()[:12])
    return "\n\n".join(
        [
            f"{r.choice(OPENERS)} I need to work out: {head} ...",
            "I'll set up the computation carefully and go step by step.",
            "Working through each step and checking the intermediate values, everything is consistent.",
            conclude(r, answer),
        ]
    )
