"""Seeded synthetic reasoning problems: the offline stand-in for s1's question pool.

The default ("nano") configuration must run without network access, so the workflow
generates its own question pool, teacher reasoning traces and held-out evaluation sets.
Every problem is procedurally generated and actually solved: the teacher trace works the
problem step by step with real intermediate values, grows with the difficulty (1..5), and
is wrong with a probability that also grows with the difficulty.

Public API:

- :data:`DOMAINS` - domain name -> ``cot_type``.
- :func:`generate_problem` - one problem (question, answer, trace, attempt, teacher_correct).
- :func:`generate_eval_sets` - held-out evaluation sets (``synth_arith``, ``synth_mixed``,
  ``synth_mc``, ``synth_steps``) with columns :data:`EVAL_COLUMNS`.
- :func:`generate_worked_solutions` - correct worked solutions of fresh problems (the
  nano base model's "knows how to reason when asked" pretraining text).
- :func:`generate_pool` - a messy pool (exact duplicates, whitespace/case near-duplicates,
  formatting junk for s1's quality filter, planted copies of eval questions) with columns
  :data:`SYNTHETIC_POOL_COLUMNS`.

Randomness only comes from ``numpy.random.default_rng`` seeded with integer sequences
derived from the caller's seed (never the global random state, never ``hash()``), so the
same arguments give an identical DataFrame.

Eval questions use their own phrasing templates (as real benchmarks are phrased differently
from training pools), so a pool question shares word 8-grams with an eval question only when
it was planted as an overlap (or, rarely, by accident through numbers).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from s1flow.pool import NORMALISED_COLUMNS, metadata_json, question_hash

__all__ = [
    "DOMAINS",
    "DOMAIN_WEIGHTS",
    "EVAL_COLUMNS",
    "EVAL_SET_NAMES",
    "SYNTHETIC_POOL_COLUMNS",
    "TEACHER_ERROR_RATE",
    "generate_eval_sets",
    "generate_pool",
    "generate_problem",
    "generate_worked_solutions",
    "normalise_question",
]

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
_VERIFY_RATE = (0.10, 0.25, 0.40, 0.55, 0.70)
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

_LETTERS = "ABCD"


# --------------------------------------------------------------------------------------------
# randomness


class _Rand:
    """Buffered uniform draws from a numpy Generator (scalar Generator calls are slow)."""

    __slots__ = ("_gen", "_buf", "_i")

    def __init__(self, gen: np.random.Generator, block: int = 512) -> None:
        self._gen = gen
        self._buf: list[float] = gen.random(block).tolist()
        self._i = 0

    def random(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._gen.random(len(self._buf)).tolist()
            self._i = 0
        x = self._buf[self._i]
        self._i += 1
        return x

    def randint(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi] (both inclusive)."""
        return lo + int(self.random() * (hi - lo + 1))

    def nonzero(self, lo: int, hi: int) -> int:
        while True:
            x = self.randint(lo, hi)
            if x:
                return x

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.random() * len(seq))]

    def shuffle(self, items: list[Any]) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = int(self.random() * (i + 1))
            items[i], items[j] = items[j], items[i]

    def sample(self, seq: Sequence[Any], k: int) -> list[Any]:
        items = list(seq)
        self.shuffle(items)
        return items[:k]

    def chance(self, p: float) -> bool:
        return self.random() < p


# --------------------------------------------------------------------------------------------
# shared text helpers

_NAMES = (
    "Ava", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira",
    "Luca", "Maya", "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wen", "Ximena", "Yusuf", "Zoe", "Amara", "Bruno", "Carmen", "Dara", "Emil", "Fatima",
    "Gustav", "Hana", "Ivan", "Jamal", "Keiko", "Leila", "Mateo", "Nadia",
)  # fmt: skip

_OPENERS = ("Okay, so", "Alright, so", "Let me think.", "Hmm, okay.", "So", "Right, so", "Let's see:")
_REREADS = (
    "Let me re-read the problem to make sure I have it right.",
    "First, let me make sure I understand what is being asked.",
    "Let me restate the problem in my own words before doing anything.",
    "I should be careful here and not rush.",
)
_CHECKS = (
    "Wait, let me double-check",
    "Hold on, let me double-check",
    "Wait, let me verify",
    "Hmm, let me re-check",
)
_CONCLUDE = (
    "So the answer is {a}.",
    "Therefore, the answer is {a}.",
    "That gives {a} as the final answer.",
    "So the final answer should be {a}.",
    "I'm fairly confident the answer is {a}.",
)


def _intro(r: _Rand, d: int, task: str) -> str:
    text = f"{r.choice(_OPENERS)} I need to {task}."
    if r.chance(0.12 * d):
        text += " " + r.choice(_REREADS)
    return text


def _check(r: _Rand, what: str) -> str:
    return f"{r.choice(_CHECKS)} {what}."


def _conclude(r: _Rand, answer: str) -> str:
    return r.choice(_CONCLUDE).format(a=answer)


def _boxed(r: _Rand, answer: str, summary: str) -> str:
    style = r.randint(0, 3)
    if style == 0:
        return f"The answer is $\\boxed{{{answer}}}$."
    if style == 1:
        return f"{summary} Therefore the answer is $\\boxed{{{answer}}}$."
    if style == 2:
        return f"{summary}\n\nFinal answer: $\\boxed{{{answer}}}$"
    return f"Final Answer: {answer}"


def _ordinal(k: int) -> str:
    if 10 <= k % 100 <= 20:
        return f"{k}th"
    return f"{k}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th') }"


def _fmt(x: Fraction | int | float) -> str:
    if isinstance(x, Fraction):
        return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
    if isinstance(x, float):
        if x == int(x):
            return str(int(x))
        return f"{x:.2f}".rstrip("0").rstrip(".")
    return str(x)


def _paren(x: Fraction | int) -> str:
    s = _fmt(x)
    return f"({s})" if x < 0 else s


def _and(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def normalise_question(question: str) -> str:
    """Lower-case and collapse whitespace (the text s1's 8-gram decontamination compares)."""
    return " ".join(question.lower().split())


@dataclass
class _Problem:
    question: str
    answer: str
    trace: str
    attempt: str
    correct: bool
    kind: str
    params: dict[str, Any]
    choices: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _tpl(r: _Rand, templates: Mapping[str, Sequence[str]], style: str) -> tuple[int, str]:
    options = templates[style]
    i = r.randint(0, len(options) - 1)
    return i, options[i]


# --------------------------------------------------------------------------------------------
# arithmetic: multi-step expressions evaluated in post-order

_ARITH_TEMPLATES = {
    "pool": (
        "Evaluate {e}.",
        "What is the value of {e}?",
        "Compute {e}.",
        "{n} writes the expression {e} on the board. What number does it equal?",
        "Calculate {e} and give the result as an integer.",
    ),
    "eval": (
        "Determine the integer equal to {e}.",
        "Simplify {e} completely; your result should be one integer.",
        "Working carefully with the order of operations, find {e}.",
    ),
}


def _render_expr(node: Any, pp: int = 0, right: bool = False) -> str:
    if not isinstance(node, list):
        return f"({node})" if node < 0 else str(node)
    op, a, b = node
    p = 2 if op == "*" else 1
    s = f"{_render_expr(a, p, False)} {op} {_render_expr(b, p, True)}"
    return f"({s})" if p < pp or (right and p == pp) else s


def _reduce_once(node: list[Any], slip: int) -> tuple[Any, tuple[int, str, int, int, int]]:
    op, a, b = node
    if isinstance(a, list):
        a2, step = _reduce_once(a, slip)
        return [op, a2, b], step
    if isinstance(b, list):
        b2, step = _reduce_once(b, slip)
        return [op, a, b2], step
    true = a + b if op == "+" else a - b if op == "-" else a * b
    return true + slip, (a, op, b, true + slip, true)


def _gen_arithmetic(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    n_ops = (2, 3, 4, 6, 8)[d - 1] + r.randint(0, 1)
    lo, hi = ((1, 12), (2, 30), (2, 60), (2, 99), (3, 250))[d - 1]
    mul_hi = (9, 12, 12, 19, 25)[d - 1]

    def build(k: int) -> Any:
        if k == 0:
            return r.randint(lo, hi)
        if r.chance(0.3):
            return ["*", build(k - 1), r.randint(2, mul_hi)]
        left = r.randint(0, k - 1)
        return [r.choice("+-"), build(left), build(k - 1 - left)]

    tree = build(n_ops)
    expr = _render_expr(tree)
    # the teacher's slip (if any): step index and amount
    slip_step, slip = -1, 0
    if wrong:
        slip_step = r.randint(0, n_ops - 1)
        slip = r.choice((1, -1, 2, -2, 10, -10))

    def run(slip_at: int, amount: int) -> tuple[list[tuple[int, str, int, int, int]], list[str], int]:
        node: Any = tree
        steps, shapes = [], []
        i = 0
        while isinstance(node, list):
            node, step = _reduce_once(node, amount if i == slip_at else 0)
            steps.append(step)
            shapes.append(_render_expr(node))
            i += 1
        return steps, shapes, node

    steps, shapes, value = run(-1, 0)
    truth = value
    if wrong:
        for _ in range(6):
            w_steps, w_shapes, w_value = run(slip_step, slip)
            if w_value != truth:
                steps, shapes, value = w_steps, w_shapes, w_value
                break
            slip_step = r.randint(0, n_ops - 1)
        else:
            slip_step = n_ops - 1
            steps, shapes, value = run(slip_step, 1)
    correct = value == truth

    n = r.choice(_NAMES)
    t_i, tpl = _tpl(r, _ARITH_TEMPLATES, style)
    question = tpl.format(e=expr, n=n)

    parts = [_intro(r, d, f"evaluate {expr}")]
    if any(s[1] == "*" for s in steps) and any(s[1] != "*" for s in steps):
        parts.append("Multiplication comes before addition and subtraction, and parentheses come first.")
    sym = {"+": "+", "-": "-", "*": "×"}
    for i, (a, op, b, c, _true) in enumerate(steps):
        line = f"{_paren(a)} {sym[op]} {_paren(b)} = {c}."
        if op == "*" and abs(b) >= 10 and b % 10 and i != slip_step:
            tens, ones = b - b % 10, b % 10
            line = (
                f"{_paren(a)} × {b} = {_paren(a)} × {tens} + {_paren(a)} × {ones} = "
                f"{a * tens} + {_paren(a * ones)} = {c}."
            )
        if i < len(steps) - 1 and (d >= 2 or r.chance(0.5)):
            line += f" Now the expression is {shapes[i]}."
        parts.append(line)
    if r.chance(_VERIFY_RATE[d - 1]):
        k = r.randint(0, len(steps) - 1)
        a, op, b, c, true = steps[k]
        parts.append(_check(r, f"{_paren(a)} {sym[op]} {_paren(b)}"))
        if c != true:
            parts.append(f"Yes, I get {c} again.")
        elif op == "+":
            parts.append(f"{c} - {_paren(b)} = {a}, so {c} is right.")
        elif op == "-":
            parts.append(f"{c} + {_paren(b)} = {a}, so {c} is right.")
        else:
            parts.append(f"{_paren(a)} × {b}: adding {_paren(a)} to itself {b} times gives {c}. Good.")
    if d >= 4 and r.chance(0.5):
        parts.append(f"Let me trace the whole chain once more: {' -> '.join(shapes)}. That looks consistent.")
    parts.append(_conclude(r, str(value)))
    attempt = _boxed(r, str(value), f"Evaluating {expr} step by step gives {value}.")
    return _Problem(
        question, str(truth), "\n\n".join(parts), attempt, correct, "expression",
        {"expression": expr, "n_ops": n_ops, "template": t_i},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# letter counting ("How many r's are in raspberry?")

_WORD_TEXT = (
    "raspberry strawberry mississippi bookkeeper committee balloon banana parallel accommodate "
    "necessary occurrence embarrass millennium possession assessment successful address "
    "tomorrow cinnamon broccoli coffee pepper letter butter apple hello level radar referee "
    "giraffe hippopotamus umbrella barrel carrot cherry squirrel tennessee connecticut "
    "massachusetts philippines vanilla caramel chocolate marshmallow peppermint spaghetti "
    "zucchini artichoke avocado pineapple watermelon blueberry cranberry gooseberry elderberry "
    "mulberry grapefruit tangerine persimmon pomegranate lollipop bubblegum jellybean "
    "cappuccino espresso macchiato tiramisu bookshelf keyboard notebook sunflower buttercup "
    "dandelion rhododendron chrysanthemum daffodil narcissus hibiscus magnolia eucalyptus "
    "kangaroo koala alligator crocodile armadillo chimpanzee orangutan rhinoceros "
    "caterpillar butterfly dragonfly grasshopper mosquito woodpecker hummingbird nightingale "
    "peacock flamingo pelican albatross penguin ostrich cassowary baboon raccoon "
    "assassinate possessive aggressive grammar dilemma tattoo voodoo bassoon trombone "
    "saxophone xylophone tambourine accordion harmonica mandolin ukulele clarinet piccolo "
    "referendum deterrence irresistible unnecessary misspell hullabaloo abracadabra "
    "onomatopoeia supercalifragilistic antidisestablishmentarianism floccinaucinihilipilification "
    "cheese geese sheep street bookkeeping beekeeper engineer pioneer volunteer"
)
_WORDS = tuple(_WORD_TEXT.split())
_SHORT_WORDS = tuple(w for w in _WORDS if len(w) <= 9)

_LETTER_TEMPLATES = {
    "pool": (
        "How many times does the letter '{L}' appear in \"{T}\"?",
        "Count how many times '{L}' occurs in the {kw} \"{T}\".",
        "{n} wrote down the {kw} \"{T}\". How many '{L}' letters did {n} write?",
        "How many '{L}'s are there in \"{T}\"?",
        "In \"{T}\", what is the number of occurrences of the letter '{L}'?",
    ),
    "eval": (
        "Determine the count of the character '{L}' in \"{T}\".",
        "{n} is spelling out \"{T}\" letter by letter. How often will {n} say '{L}'?",
        "Tally every '{L}' in the {kw} \"{T}\". What total do you get?",
    ),
}


def _gen_letter_count(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    n_words = (1, 1, 2, 3, r.randint(4, 6))[d - 1]
    words = [r.choice(_SHORT_WORDS)] if d == 1 else [r.choice(_WORDS) for _ in range(n_words)]
    text = " ".join(words)
    letters = text.replace(" ", "")
    absent = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in letters]
    letter = r.choice(absent) if absent and r.chance(0.1) else r.choice(letters)
    counts = [w.count(letter) for w in words]
    truth = sum(counts)

    # the teacher's slip: miss one occurrence, or (when there is none) misread one letter
    miss_word, miss_pos, extra_word, extra_pos = -1, -1, -1, -1
    if wrong:
        if truth > 0:
            miss_word = r.choice([i for i, c in enumerate(counts) if c > 0])
            positions = [i for i, c in enumerate(words[miss_word]) if c == letter]
            miss_pos = positions[-1] if r.chance(0.7) else r.choice(positions)
        else:
            extra_word = r.randint(0, len(words) - 1)
            extra_pos = r.randint(0, len(words[extra_word]) - 1)

    n = r.choice(_NAMES)
    kw = "word" if len(words) == 1 else "phrase"
    t_i, tpl = _tpl(r, _LETTER_TEMPLATES, style)
    question = tpl.format(L=letter, T=text, n=n, kw=kw)

    parts = [_intro(r, d, f"count how many times '{letter}' appears in \"{text}\"")]
    if len(words) > 1:
        parts.append("I'll go word by word and spell each one out so I don't miss any.")
    seen = []
    for wi, w in enumerate(words):
        k = 0
        spelled = []
        for ci, c in enumerate(w):
            hit = (c == letter and not (wi == miss_word and ci == miss_pos)) or (
                wi == extra_word and ci == extra_pos
            )
            if hit:
                k += 1
                spelled.append(f"{c} ({k})")
            else:
                spelled.append(c)
        seen.append(k)
        line = f"\"{w}\" is spelled {'-'.join(w)}."
        if len(w) > 4 or d >= 2:
            line += f" Going letter by letter: {', '.join(spelled)}."
        line += f" That's {k} '{letter}' in \"{w}\"." if k else f" No '{letter}' in \"{w}\"."
        parts.append(line)
    value = sum(seen)
    if len(words) > 1:
        parts.append(f"Adding up: {' + '.join(map(str, seen))} = {value}.")
    if r.chance(_VERIFY_RATE[d - 1]):
        wi = max(range(len(words)), key=lambda i: seen[i])
        w = words[wi]
        parts.append(_check(r, f"\"{w}\""))
        if seen[wi] == counts[wi]:
            pos = [str(i + 1) for i, c in enumerate(w) if c == letter]
            if pos:
                parts.append(f"The '{letter}'s are at positions {', '.join(pos)}, so {len(pos)}. Good.")
            else:
                parts.append(f"Scanning again, there really is no '{letter}' in it.")
        else:
            parts.append(f"Scanning it again I still count {seen[wi]}. Okay.")
    correct = value == truth
    parts.append(_conclude(r, str(value)))
    attempt = _boxed(r, str(value), f"Counting letter by letter, '{letter}' appears {value} times.")
    return _Problem(
        question, str(truth), "\n\n".join(parts), attempt, correct, "count",
        {"letter": letter, "text": text, "template": t_i},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# modular arithmetic

_MOD_TEMPLATES = {
    "mod": {
        "pool": (
            "What is the remainder when {x} is divided by {m}?",
            "Find {x} mod {m}.",
            "{n} splits {x} marbles into groups of {m}. How many marbles are left over?",
        ),
        "eval": ("Determine the least nonnegative residue of {x} modulo {m}.",),
    },
    "prod": {
        "pool": (
            "What is the remainder when {x} is divided by {m}?",
            "Compute ({x}) mod {m}.",
            "Find the residue of {x} modulo {m}.",
        ),
        "eval": ("Determine the least nonnegative residue of {x} modulo {m}.",),
    },
    "pow": {
        "pool": (
            "What is the remainder when {x} is divided by {m}?",
            "Compute {x} mod {m}.",
            "Find the residue of {x} modulo {m}.",
            "{n} computes {x} and then divides it by {m}. What remainder does {n} get?",
        ),
        "eval": (
            "Determine the least nonnegative residue of {x} modulo {m}.",
            "When {x} is divided by {m}, what remainder results?",
        ),
    },
}


def _reduce_line(x: int, m: int, shown: int) -> str:
    q = x // m
    if q == 0:
        return f"{x} is already less than {m}"
    return f"{x} = {q} × {m} + {x - q * m}, so it is ≡ {shown} (mod {m})"


def _gen_modular(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    n = r.choice(_NAMES)
    parts: list[str] = []
    slips: list[int] = []  # per reduction step: 0 or an offset mod m

    if d == 1:
        kind = "mod"
        a, m = r.randint(20, 200), r.randint(3, 12)
        x, truth = str(a), a % m
        params: dict[str, Any] = {"a": a, "m": m}
    elif d == 2:
        kind = "prod"
        a, b, m = r.randint(10, 99), r.randint(10, 99), r.randint(5, 20)
        x, truth = f"{a} × {b}", (a * b) % m
        params = {"a": a, "b": b, "m": m}
    else:
        kind = "pow"
        a = r.randint(*((2, 12), (2, 30), (10, 99))[d - 3])
        k = r.randint(*((5, 12), (20, 80), (100, 999))[d - 3])
        m = r.randint(*((5, 30), (7, 60), (11, 199))[d - 3])
        x, truth = f"{a}^{k}", pow(a, k, m)
        params = {"a": a, "k": k, "m": m}

    def reduce(val: int, step: int) -> tuple[int, str]:
        res = val % m
        shown = (res + slips[step]) % m if step < len(slips) else res
        return shown, _reduce_line(val, m, shown)

    for _attempt in range(6):
        slips.clear()
        parts = [_intro(r, d, f"find {x} modulo {m}")]
        if kind == "mod":
            n_steps = 1
        elif kind == "prod":
            n_steps = 3
        elif d == 3:
            n_steps = params["k"] - 1
        else:
            n_steps = params["k"].bit_length() - 1 + params["k"].bit_count() - 1
        if wrong:
            slips.extend([0] * n_steps)
            slips[r.randint(0, n_steps - 1)] = r.randint(1, m - 1)
        if kind == "mod":
            value, line = reduce(a, 0)
            parts.append(f"Divide: {line}.")
            if not wrong and r.chance(0.5):
                parts.append(f"Check: {a // m} × {m} = {a // m * m}, and {a} - {a // m * m} = {a % m}.")
        elif kind == "prod":
            parts.append("It's easier to reduce each factor first and multiply the residues.")
            ra, line_a = reduce(a, 0)
            rb, line_b = reduce(b, 1)
            parts.append(f"{line_a}.")
            parts.append(f"{line_b}.")
            value, line = reduce(ra * rb, 2)
            parts.append(f"Now {ra} × {rb} = {ra * rb}, and {line}.")
        elif d == 3:
            k = params["k"]
            parts.append(f"I'll compute successive powers of {a} modulo {m}, reducing each time.")
            cur, line = reduce(a, 10**9)
            parts.append(f"{a}^1: {line}." if a >= m else f"{a}^1 ≡ {a}.")
            for i in range(2, k + 1):
                prod = cur * a
                parts_line = f"{a}^{i} ≡ {cur} × {a} = {prod}"
                cur, line = reduce(prod, i - 2)
                parts.append(f"{parts_line}; {line}.")
            value = cur
        else:
            k = params["k"]
            bits = [i for i in range(k.bit_length()) if k >> i & 1]
            powers = " + ".join(str(1 << i) for i in reversed(bits))
            parts.append(
                f"The exponent is large, so I'll use repeated squaring. In binary {k} = {bin(k)[2:]}, "
                f"that is {k} = {powers}."
            )
            sq, line = reduce(a, 10**9)
            parts.append(f"{a}^1: {line}." if a >= m else f"{a}^1 ≡ {a} (mod {m}).")
            squares = {0: sq}
            step = 0
            for i in range(1, k.bit_length()):
                val = sq * sq
                sq, line = reduce(val, step)
                step += 1
                squares[i] = sq
                parts.append(f"{a}^{1 << i} ≡ {squares[i - 1]}^2 = {val}; {line}.")
            acc = squares[bits[0]]
            parts.append(f"Now multiply the needed pieces, starting from {a}^{1 << bits[0]} ≡ {acc}.")
            for i in bits[1:]:
                val = acc * squares[i]
                head = f"Times {a}^{1 << i} ≡ {squares[i]}: {acc} × {squares[i]} = {val}"
                acc, line = reduce(val, step)
                step += 1
                parts.append(f"{head}; {line}.")
            value = acc
        if not wrong or value != truth:
            break
    else:
        value = (truth + 1) % m
        parts.append(f"So the result is {value}.")
    if r.chance(_VERIFY_RATE[d - 1]):
        if kind == "pow" and math.gcd(a, m) == 1 and _is_prime(m) and params["k"] >= m - 1:
            e = params["k"] % (m - 1)
            parts.append(_check(r, "with Fermat's little theorem"))
            parts.append(
                f"{m} is prime and does not divide {a}, so {a}^{m - 1} ≡ 1 and {a}^{params['k']} ≡ "
                f"{a}^{e} (mod {m}), since {params['k']} mod {m - 1} = {e}. That agrees with {value}."
            )
        else:
            parts.append(_check(r, "the last reduction"))
            parts.append(f"{value} is between 0 and {m - 1}, and the arithmetic above looks right.")
    correct = value == truth
    parts.append(_conclude(r, str(value)))
    attempt = _boxed(r, str(value), f"Reducing modulo {m} at every step gives {value}.")
    t_i, tpl = _tpl(r, _MOD_TEMPLATES[kind], style)
    question = tpl.format(x=x, m=m, n=n)
    params["template"] = t_i
    return _Problem(question, str(truth), "\n\n".join(parts), attempt, correct, kind, params)


def _is_prime(x: int) -> bool:
    if x < 2:
        return False
    return all(x % p for p in range(2, math.isqrt(x) + 1))


# --------------------------------------------------------------------------------------------
# base conversion

_DIGITS = "0123456789ABCDEF"
_BASE_TEMPLATES = {
    "pool": (
        "Convert {src} to base {b2}.",
        "Express {src} in base {b2}.",
        "Write the number {src} in base {b2}.",
        "{n} has the number {src}. What does it look like in base {b2}?",
    ),
    "eval": (
        "Rewrite the number {src} using only base {b2} digits, and give the result.",
        "Find the base {b2} representation of the number {src}, written without a subscript.",
    ),
}


def _to_base(x: int, b: int) -> str:
    if x == 0:
        return "0"
    out = []
    while x:
        out.append(_DIGITS[x % b])
        x //= b
    return "".join(reversed(out))


def _gen_base_conversion(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    if d == 1:
        value, b1, b2 = r.randint(5, 63), 10, 2
    elif d == 2:
        value, b1, b2 = r.randint(20, 400), 10, r.randint(3, 9)
    elif d == 3:
        value, b1, b2 = r.randint(30, 900), r.randint(2, 9), 10
    elif d == 4:
        b1, b2 = r.sample(range(2, 10), 2)
        value = r.randint(50, 2000)
    else:
        b1, b2 = r.sample((2, 3, 5, 6, 7, 8, 9, 12, 16), 2)
        value = r.randint(1000, 60000)
    digits = _to_base(value, b1)
    truth = _to_base(value, b2)
    src = f"${digits}_{{{b1}}}$"
    slip_to_dec = wrong and b1 != 10 and (b2 == 10 or r.chance(0.5))
    slip_div = wrong and not slip_to_dec

    parts = [_intro(r, d, f"convert {digits} from base {b1} to base {b2}")]
    dec = value
    if b1 != 10:
        parts.append(f"First I'll convert to base 10 by expanding in powers of {b1}.")
        terms = []
        vals = []
        slip_i = r.randint(0, len(digits) - 1) if slip_to_dec else -1
        for i, ch in enumerate(reversed(digits)):
            dv = _DIGITS.index(ch)
            v = dv * b1**i + (b1 if i == slip_i else 0)
            vals.append(v)
            terms.append(f"{dv} × {b1}^{i} = {v}")
        parts.append("From the right: " + "; ".join(terms) + ".")
        dec = sum(vals)
        parts.append(f"Adding: {' + '.join(map(str, reversed(vals)))} = {dec}.")
    if b2 == 10:
        result = str(dec)
    else:
        parts.append(f"Now repeatedly divide {dec} by {b2} and record the remainders.")
        x = dec
        rems = []
        n_div = len(_to_base(dec, b2))
        slip_i = r.randint(0, n_div - 1) if slip_div else -1
        i = 0
        while x:
            q, rem = divmod(x, b2)
            shown = (rem + 1) % b2 if i == slip_i else rem
            rems.append(shown)
            parts.append(f"{x} ÷ {b2} = {q} remainder {_DIGITS[shown]}.")
            x = q
            i += 1
        result = "".join(_DIGITS[v] for v in reversed(rems)) or "0"
        parts.append(f"Reading the remainders from bottom to top gives {result}.")
    if r.chance(_VERIFY_RATE[d - 1]) and b2 != 10:
        back = " + ".join(f"{_DIGITS.index(c)}×{b2}^{i}" for i, c in enumerate(reversed(result)) if c != "0")
        check_val = sum(_DIGITS.index(c) * b2**i for i, c in enumerate(reversed(result)))
        parts.append(_check(r, f"by converting {result} back"))
        verdict = "which matches." if check_val == dec else f"hmm, vs {dec}..."
        parts.append(f"{back} = {check_val}, {verdict}")
        if check_val != dec:
            parts.append("Probably I slipped in the check itself; the division steps looked fine.")
    correct = result == truth
    parts.append(_conclude(r, result))
    attempt = _boxed(r, result, f"{digits} in base {b1} is {result} in base {b2}.")
    n = r.choice(_NAMES)
    t_i, tpl = _tpl(r, _BASE_TEMPLATES, style)
    question = tpl.format(src=src, b2=b2, n=n)
    return _Problem(
        question, truth, "\n\n".join(parts), attempt, correct, "convert",
        {"digits": digits, "from_base": b1, "to_base": b2, "template": t_i},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# gcd / lcm via the Euclidean algorithm

_GCD_TEMPLATES = {
    "gcd": {
        "pool": (
            "Find the greatest common divisor of {nums}.",
            "What is the greatest common divisor of {nums}?",
            "Compute gcd({csv}).",
        ),
        "pool2": (
            "{n} has {a} red beads and {b} blue beads and wants to split them into identical groups "
            "with nothing left over. What is the largest number of groups possible?",
        ),
        "eval": ("Determine the largest positive integer that divides each of {nums}.",),
    },
    "lcm": {
        "pool": (
            "Find the least common multiple of {nums}.",
            "What is the least common multiple of {nums}?",
            "Compute lcm({csv}).",
        ),
        "pool2": (
            "Two lamps blink every {a} and {b} seconds, and they just blinked together. "
            "After how many seconds will they next blink together?",
        ),
        "eval": ("Determine the smallest positive integer that is a multiple of each of {nums}.",),
    },
}


def _euclid(r: _Rand, a: int, b: int, parts: list[str], slip: bool) -> int:
    x, y = max(a, b), min(a, b)
    parts.append(f"Euclidean algorithm on {x} and {y}:")
    lines = []
    slip_at = r.randint(0, 1) if slip else -1
    i = 0
    while y:
        q, rem = divmod(x, y)
        if i == slip_at and rem > 1:
            rem = rem - 1
            lines.append(f"{x} = {q} × {y} + {rem}")
        else:
            lines.append(f"{x} = {q} × {y} + {rem}")
        x, y = y, rem
        i += 1
    parts.append("; ".join(lines) + f". The last nonzero remainder is {x}.")
    return x


def _gen_gcd_lcm(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    kind = "gcd" if d in (1, 3) or (d in (4, 5) and r.chance(0.5)) else "lcm"
    count = 2 if d <= 3 else r.randint(2, 3) if d == 5 else 3
    if kind == "gcd":
        g = r.randint(*((2, 12), (2, 12), (6, 60), (4, 30), (12, 400))[d - 1])
        hi = (6, 6, 20, 30, 120)[d - 1]
        nums = [g * r.randint(2, hi) for _ in range(count)]
    else:
        hi = (30, 30, 60, 40, 150)[d - 1]
        nums = [r.randint(4, hi) for _ in range(count)]
    if len(set(nums)) < len(nums):
        nums = [v + i for i, v in enumerate(nums)]
    truth = math.gcd(*nums) if kind == "gcd" else math.lcm(*nums)

    what = "greatest common divisor" if kind == "gcd" else "least common multiple"
    parts = [_intro(r, d, f"find the {what} of {_and([str(v) for v in nums])}")]
    if kind == "lcm":
        parts.append("I'll use lcm(a, b) = a × b / gcd(a, b), combining the numbers one at a time.")
    slip_step = r.randint(0, count - 2) if wrong else -1
    for _attempt in range(4):
        acc = nums[0]
        steps: list[str] = []
        for i, v in enumerate(nums[1:]):
            g = _euclid(r, acc, v, steps, i == slip_step)
            if kind == "gcd":
                acc = g
                if i < count - 2:
                    steps.append(f"So far the gcd is {acc}; now combine it with the next number.")
            else:
                new = acc * v // g
                steps.append(f"lcm({acc}, {v}) = {acc} × {v} / {g} = {acc * v} / {g} = {new}.")
                acc = new
        if not wrong or acc != truth:
            break
    else:
        acc = truth * 2 if kind == "gcd" else truth // 2 if truth % 2 == 0 else truth * 2
        steps.append(f"So it comes out to {acc}.")
    parts.extend(steps)
    value = acc
    if r.chance(_VERIFY_RATE[d - 1]):
        parts.append(_check(r, f"that {value} works"))
        if kind == "gcd":
            checks = [f"{v} / {value} = {_fmt(Fraction(v, value))}" for v in nums]
            parts.append("; ".join(checks) + ".")
        else:
            checks = [f"{value} / {v} = {_fmt(Fraction(value, v))}" for v in nums]
            parts.append("; ".join(checks) + ".")
        if all(v % value == 0 for v in nums) if kind == "gcd" else all(value % v == 0 for v in nums):
            parts.append("All whole numbers, good.")
        else:
            parts.append("Hmm, close enough; I'll trust the algorithm.")
    correct = value == truth
    parts.append(_conclude(r, str(value)))
    attempt = _boxed(r, str(value), f"The {what} is {value}.")
    n = r.choice(_NAMES)
    templates = dict(_GCD_TEMPLATES[kind])
    if style == "pool" and count == 2 and r.chance(0.25):
        style = "pool2"
    t_i, tpl = _tpl(r, templates, style)
    question = tpl.format(
        nums=_and([str(v) for v in nums]), csv=", ".join(map(str, nums)), n=n,
        a=nums[0], b=nums[-1],
    )  # fmt: skip
    return _Problem(
        question, str(truth), "\n\n".join(parts), attempt, correct, kind,
        {"numbers": nums, "template": f"{style}{t_i}"},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# sorting

_SORT_TEMPLATES = {
    "sort": {
        "pool": (
            "Sort the following numbers in {order} order: {lst}.",
            "Arrange these numbers in {order} order: {lst}.",
            "{n} has the list {lst}. Write it in {order} order.",
        ),
        "eval": ("Put the list {lst} into {order} order and write out the result.",),
    },
    "kth": {
        "pool": (
            "What is the {k} {ext} number among {lst}?",
            "From the numbers {lst}, find the {k} {ext} one.",
            "{n} lists the numbers {lst}. Which number is the {k} {ext}?",
        ),
        "eval": ("Consider the collection {lst}. Identify its {k} {ext} element.",),
    },
}


def _gen_sorting(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    size = (r.randint(4, 5), 6, 8, 10, r.randint(13, 16))[d - 1]
    lo, hi = ((1, 50), (1, 99), (-50, 99), (-200, 500), (-999, 999))[d - 1]
    nums: list[int] = []
    while len(nums) < size:
        v = r.randint(lo, hi)
        if v not in nums:
            nums.append(v)
    kind = "sort" if r.chance(0.6) else "kth"
    desc = r.chance(0.35)
    order, ext, pick = ("descending", "largest", max) if desc else ("ascending", "smallest", min)
    k = r.randint(2, max(2, size - 1))
    truth_list = sorted(nums, reverse=desc)
    truth = ", ".join(map(str, truth_list)) if kind == "sort" else str(truth_list[k - 1])
    n_steps = size - 1 if kind == "sort" else k
    slip_at = -1
    if wrong:
        slip_at = r.randint(0, size - 2) if kind == "sort" else r.choice((k - 2, k - 1))

    task = f"sort {', '.join(map(str, nums))} in {order} order" if kind == "sort" else (
        f"find the {_ordinal(k)} {ext} of {', '.join(map(str, nums))}"
    )
    parts = [_intro(r, d, task)]
    parts.append(f"I'll repeatedly take the {ext} remaining number.")
    remaining = list(nums)
    out: list[int] = []
    for i in range(n_steps):
        best = pick(remaining)
        if i == slip_at and len(remaining) > 1:
            rest = [v for v in remaining if v != best]
            best = pick(rest)
            line = f"The {ext} of {', '.join(map(str, remaining))} is {best}."
        else:
            line = f"The {ext} of {', '.join(map(str, remaining))} is {best}."
        remaining.remove(best)
        out.append(best)
        parts.append(line + (f" Taken so far: {', '.join(map(str, out))}." if d >= 3 else ""))
    if kind == "sort":
        out.extend(remaining)
        value = ", ".join(map(str, out))
        parts.append(f"The last one left is {remaining[0]}, so the sorted list is {value}.")
    else:
        value = str(out[-1])
        parts.append(f"The {_ordinal(k)} number I took is {value}.")
    if r.chance(_VERIFY_RATE[d - 1]):
        parts.append(_check(r, "the count and the order"))
        parts.append(
            f"There are {size} numbers in the list, and each one I took was the {ext} of what remained. "
            "Looks fine."
        )
    correct = value == truth
    parts.append(_conclude(r, value))
    attempt = _boxed(r, value, f"Taking the {ext} remaining number each time gives {value}.")
    n = r.choice(_NAMES)
    t_i, tpl = _tpl(r, _SORT_TEMPLATES[kind], style)
    question = tpl.format(order=order, lst=", ".join(map(str, nums)), n=n, k=_ordinal(k), ext=ext)
    return _Problem(
        question, truth, "\n\n".join(parts), attempt, correct, kind,
        {"numbers": nums, "descending": desc, "k": k if kind == "kth" else None, "template": t_i},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# linear equations

_LIN_TEMPLATES = {
    "one": {
        "pool": (
            "Solve for x: {e1}.",
            "Find x if {e1}.",
            "{n} thinks of a number x such that {e1}. What is x?",
        ),
        "eval": ("Determine the value of x satisfying {e1}.",),
    },
    "two": {
        "pool": (
            "Solve the system {e1} and {e2}. Give the answer as {tup}.",
            "Find {vars} if {e1} and {e2}. Answer in the form {tup}.",
            "{n} knows that {e1} and {e2}. What is {tup}?",
        ),
        "eval": ("Determine the ordered pair {tup} satisfying both {e1} and {e2}.",),
    },
    "three": {
        "pool": (
            "Solve the system {e1}, {e2}, {e3}. Give the answer as {tup}.",
            "Find {vars} if {e1}, {e2}, and {e3}. Answer in the form {tup}.",
        ),
        "eval": ("Determine the ordered triple {tup} satisfying all of {e1}; {e2}; {e3}.",),
    },
}


def _lin(terms: Sequence[tuple[int | Fraction, str]], const: int | Fraction | None = None) -> str:
    out = ""
    for c, v in terms:
        if c == 0:
            continue
        mag = abs(c)
        body = v if mag == 1 else f"{_fmt(mag)}{v}"
        if not out:
            out = ("-" if c < 0 else "") + body
        else:
            out += (" - " if c < 0 else " + ") + body
    if const:
        out = (out + (" - " if const < 0 else " + ") + _fmt(abs(const))) if out else _fmt(const)
    return out or "0"


def _solve2(
    r: _Rand, rows: list[tuple[int, int, int]], names: tuple[str, str], parts: list[str], slip: bool
) -> tuple[Fraction, Fraction]:
    (a1, b1, c1), (a2, b2, c2) = rows
    u, v = names
    first = f"{_lin([(a1 * a2, u), (b1 * a2, v)])} = {c1 * a2}"
    second = f"{_lin([(a1 * a2, u), (b2 * a1, v)])} = {c2 * a1}"
    parts.append(
        f"To eliminate {u}, multiply the first equation by {_paren(a2)} and the second by {_paren(a1)}: "
        f"{first} and {second}."
    )
    bb = b1 * a2 - b2 * a1
    cc = c1 * a2 - c2 * a1
    if slip:
        cc += r.choice((1, -1, 2, a1 or 1))
    parts.append(
        f"Subtracting the second from the first: ({b1 * a2} - {_paren(b2 * a1)}){v} = "
        f"{c1 * a2} - {_paren(c2 * a1)}, so {_lin([(bb, v)])} = {cc}."
    )
    yv = Fraction(cc, bb)
    parts.append(f"So {v} = {cc}/{_paren(bb)} = {_fmt(yv)}.")
    xv = Fraction(c1 - b1 * yv, a1)
    parts.append(
        f"Back into the first equation: {_lin([(a1, u)])} + {_paren(b1)}·{_paren(yv)} = {c1}, so "
        f"{_lin([(a1, u)])} = {c1} - {_paren(b1 * yv)} = {_fmt(c1 - b1 * yv)}, and {u} = {_fmt(xv)}."
    )
    return xv, yv


def _gen_linear_equations(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    n = r.choice(_NAMES)
    parts: list[str]
    if d <= 2:
        kind = "one"
        x = r.randint(-12, 12)
        a = r.nonzero(-9, 9) if d == 2 else r.randint(2, 9)
        b = r.nonzero(-30, 30)
        if d == 1:
            c = a * x + b
            e1 = f"{_lin([(a, 'x')], b)} = {c}"
            parts = [_intro(r, d, f"solve {e1}")]
            rhs = c - b + (2 * b if wrong else 0)  # slip: moved b across with the wrong sign
            ax = _lin([(a, "x")])
            parts.append(f"Subtract {_paren(b)} from both sides: {ax} = {c} - {_paren(b)} = {rhs}.")
            value_f = Fraction(rhs, a)
            parts.append(f"Divide by {a}: x = {rhs}/{a} = {_fmt(value_f)}.")
        else:
            c2 = r.nonzero(-9, 9)
            while c2 == a:
                c2 = r.nonzero(-9, 9)
            dd = a * x + b - c2 * x
            e1 = f"{_lin([(a, 'x')], b)} = {_lin([(c2, 'x')], dd)}"
            parts = [_intro(r, d, f"solve {e1}")]
            coef = a - c2
            rhs = dd - b + (r.choice((1, -1)) if wrong else 0)
            parts.append(
                f"Collect the x terms on the left: ({a} - {_paren(c2)})x = {dd} - {_paren(b)}, "
                f"so {_lin([(coef, 'x')])} = {rhs}."
            )
            value_f = Fraction(rhs, coef)
            parts.append(f"Then x = {rhs}/{_paren(coef)} = {_fmt(value_f)}.")
        truth, value = str(x), _fmt(value_f)
        if r.chance(_VERIFY_RATE[d - 1]):
            lhs = a * value_f + b
            parts.append(_check(r, f"by substituting x = {value}"))
            parts.append(f"Left side: {a}·{_paren(value_f)} + {_paren(b)} = {_fmt(lhs)}. Consistent.")
        eqs = {"e1": e1}
        params: dict[str, Any] = {"equations": [e1]}
        tup, var_names = "x", "x"
    else:
        kind = "two" if d <= 4 else "three"
        k = 2 if kind == "two" else 3
        var_names = "x, y" if k == 2 else "x, y, z"
        tup = f"({var_names})"
        span = (6, 12)[d - 3] if d <= 4 else 9
        sol = [r.randint(-10 if d < 5 else -12, 10 if d < 5 else 12) for _ in range(k)]
        while True:
            rows = [
                [r.nonzero(-span, span) if d > 3 else r.randint(1, span) for _ in range(k)] for _ in range(k)
            ]
            det = (
                rows[0][0] * rows[1][1] - rows[0][1] * rows[1][0]
                if k == 2
                else round(float(np.linalg.det(np.array(rows, dtype=float))))
            )
            if det != 0 and rows[0][0] != 0:
                break
        consts = [sum(c * s for c, s in zip(row, sol, strict=True)) for row in rows]
        vs = ("x", "y", "z")[:k]
        eq_txt = [
            f"{_lin(list(zip(row, vs, strict=True)))} = {cst}" for row, cst in zip(rows, consts, strict=True)
        ]
        parts = [_intro(r, d, "solve the system " + "; ".join(eq_txt))]
        if k == 2:
            xv, yv = _solve2(r, [(*rows[0], consts[0]), (*rows[1], consts[1])], ("x", "y"), parts, wrong)
            values = [xv, yv]
        else:
            (a1, b1, c1), d1 = rows[0], consts[0]
            parts.append(f"I'll eliminate x from equations 2 and 3 using the first (x coefficient {a1}).")
            reduced = []
            for j in (1, 2):
                aj, bj, cj = rows[j]
                dj = consts[j]
                nb, nc, nd = a1 * bj - aj * b1, a1 * cj - aj * c1, a1 * dj - aj * d1
                parts.append(
                    f"{_paren(a1)} × (equation {j + 1}) - {_paren(aj)} × (equation 1): "
                    f"{_lin([(nb, 'y'), (nc, 'z')])} = {nd}."
                )
                reduced.append((nb, nc, nd))
            if reduced[0][0] == 0:
                reduced.reverse()
            parts.append("Now this is a 2x2 system in y and z.")
            yv, zv = _solve2(r, reduced, ("y", "z"), parts, wrong)
            xv = Fraction(d1 - b1 * yv - c1 * zv, a1)
            parts.append(
                f"Finally from the first equation: {_lin([(a1, 'x')])} = {d1} - {_paren(b1)}·{_paren(yv)} - "
                f"{_paren(c1)}·{_paren(zv)} = {_fmt(d1 - b1 * yv - c1 * zv)}, so x = {_fmt(xv)}."
            )
            values = [xv, yv, zv]
        truth = "(" + ", ".join(map(str, sol)) + ")"
        value = "(" + ", ".join(_fmt(v) for v in values) + ")"
        if r.chance(_VERIFY_RATE[d - 1]):
            row, cst = rows[-1], consts[-1]
            got = sum(c * v for c, v in zip(row, values, strict=True))
            parts.append(_check(r, "with the last equation"))
            terms = " + ".join(f"{_paren(c)}·{_paren(v)}" for c, v in zip(row, values, strict=True))
            parts.append(f"{terms} = {_fmt(got)}, and it should be {cst}." + (" Good." if got == cst else ""))
            if got != cst:
                parts.append("Close; maybe I mis-added in the check. I'll go with what I have.")
        eqs = {f"e{i + 1}": e for i, e in enumerate(eq_txt)}
        params = {"equations": eq_txt}
    correct = value == truth
    parts.append(_conclude(r, value))
    attempt = _boxed(r, value, f"Solving for the unknowns gives {value}.")
    t_i, tpl = _tpl(r, _LIN_TEMPLATES[kind], style)
    question = tpl.format(n=n, tup=tup, vars=var_names, **eqs)
    params["template"] = t_i
    return _Problem(question, truth, "\n\n".join(parts), attempt, correct, kind, params)


# --------------------------------------------------------------------------------------------
# sequences

_SEQ_TEMPLATES = {
    "next": {
        "pool": (
            "What is the next term of the sequence {seq}?",
            "Find the next number: {seq}, ...",
            "{n} writes the numbers {seq} on a board following a pattern. What number comes next?",
        ),
        "eval": ("Determine the term that follows {seq} in this sequence.",),
    },
    "nth": {
        "pool": (
            "The sequence {seq}, ... continues with the same pattern. What is its {k} term?",
            "Find the {k} term of the sequence {seq}, ...",
        ),
        "eval": ("Assuming the pattern persists, determine term number {kn} of {seq}, ...",),
    },
}


def _gen_sequences(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    n = r.choice(_NAMES)
    slip = r.choice((1, -1, 2, -2)) if wrong else 0
    parts: list[str]
    kind = "next"
    k_target = 0
    if d == 1:
        sub = "arithmetic"
        a0, step = r.randint(1, 40), r.nonzero(-12, 12)
        terms = [a0 + i * step for i in range(5)]
        truth = terms[-1] + step
        parts = [_intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
        diffs = [f"{terms[i + 1]} - {_paren(terms[i])} = {terms[i + 1] - terms[i]}" for i in range(4)]
        parts.append("Differences: " + "; ".join(diffs) + f". Constant difference {step}.")
        value = terms[-1] + step + slip
        parts.append(f"Next: {terms[-1]} + {_paren(step)} = {value}.")
    elif d == 2:
        sub = "geometric"
        a0, ratio = r.randint(1, 6), r.choice((2, 3, 4, -2, -3))
        terms = [a0 * ratio**i for i in range(5)]
        truth = terms[-1] * ratio
        parts = [_intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
        diffs = [terms[i + 1] - terms[i] for i in range(4)]
        parts.append(f"Differences: {', '.join(map(str, diffs))}. Not constant, so not arithmetic.")
        ratios = [f"{terms[i + 1]} / {_paren(terms[i])} = {ratio}" for i in range(4)]
        parts.append("Ratios: " + "; ".join(ratios) + ". It's geometric with ratio " + str(ratio) + ".")
        value = terms[-1] * ratio + slip
        parts.append(f"Next: {terms[-1]} × {_paren(ratio)} = {value}.")
    elif d == 3:
        sub = "quadratic"
        qa, qb, qc = r.randint(1, 4), r.randint(-6, 6), r.randint(-10, 10)
        terms = [qa * i * i + qb * i + qc for i in range(1, 7)]
        truth = qa * 49 + qb * 7 + qc
        parts = [_intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
        d1 = [terms[i + 1] - terms[i] for i in range(5)]
        d2 = [d1[i + 1] - d1[i] for i in range(4)]
        parts.append(f"First differences: {', '.join(map(str, d1))}. Not constant.")
        parts.append(f"Second differences: {', '.join(map(str, d2))}. Constant {d2[0]}, so it's quadratic.")
        nd = d1[-1] + d2[0] + slip
        parts.append(f"The next first difference is {d1[-1]} + {_paren(d2[0])} = {nd}.")
        value = terms[-1] + nd
        parts.append(f"So the next term is {terms[-1]} + {_paren(nd)} = {value}.")
    elif d == 4:
        if r.chance(0.5):
            sub = "fibonacci"
            t0, t1 = r.randint(1, 9), r.randint(1, 12)
            terms = [t0, t1]
            while len(terms) < 7:
                terms.append(terms[-1] + terms[-2])
            truth = terms[-1] + terms[-2]
            parts = [_intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
            dd = [terms[i + 1] - terms[i] for i in range(6)]
            parts.append(f"Differences: {', '.join(map(str, dd))}. Not constant; the ratios aren't either.")
            sums = "; ".join(f"{terms[i]} + {terms[i + 1]} = {terms[i + 2]}" for i in range(5))
            parts.append(
                "Interesting, the differences look like the sequence itself shifted. Maybe each term is "
                f"the sum of the previous two: {sums}. Yes, that works every time."
            )
            value = terms[-2] + terms[-1] + slip
            parts.append(f"Next: {terms[-2]} + {terms[-1]} = {value}.")
        else:
            sub = "linear_recurrence"
            p, q, t0 = r.randint(2, 3), r.randint(-3, 5), r.randint(1, 6)
            terms = [t0]
            while len(terms) < 6:
                terms.append(p * terms[-1] + q)
            truth = p * terms[-1] + q
            parts = [_intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
            dd = [terms[i + 1] - terms[i] for i in range(5)]
            parts.append(f"Differences: {', '.join(map(str, dd))}. They grow roughly by a factor of {p}.")
            parts.append(
                f"Try a rule t(n+1) = p·t(n) + q. From {terms[0]} -> {terms[1]} and {terms[1]} -> "
                f"{terms[2]}: {terms[1]} = {terms[0]}p + q and {terms[2]} = {terms[1]}p + q. Subtracting, "
                f"{terms[2] - terms[1]} = {terms[1] - terms[0]}p, so p = {p} and "
                f"q = {terms[1]} - {p}·{terms[0]} = {q}."
            )
            parts.append(
                "Check the rest: "
                + "; ".join(f"{p}·{_paren(terms[i])} + {_paren(q)} = {terms[i + 1]}" for i in range(2, 5))
                + ". All match."
            )
            value = p * terms[-1] + q + slip
            parts.append(f"Next: {p}·{terms[-1]} + {_paren(q)} = {value}.")
    else:
        kind, sub = "nth", "quadratic_nth"
        qa, qb, qc = r.randint(1, 4), r.randint(-6, 6), r.randint(-10, 10)
        terms = [qa * i * i + qb * i + qc for i in range(1, 6)]
        k_target = r.randint(20, 60)
        truth = qa * k_target**2 + qb * k_target + qc
        parts = [_intro(r, d, f"find term number {k_target} of " + ", ".join(map(str, terms)))]
        d1 = [terms[i + 1] - terms[i] for i in range(4)]
        d2 = [d1[i + 1] - d1[i] for i in range(3)]
        parts.append(f"First differences: {', '.join(map(str, d1))}.")
        parts.append(f"Second differences: {', '.join(map(str, d2))}.")
        parts.append(f"Constant second difference {d2[0]}, so t(n) = an^2 + bn + c, 2a = {d2[0]}, a = {qa}.")
        parts.append(
            f"t(1) = a + b + c = {terms[0]} and t(2) = 4a + 2b + c = {terms[1]}. "
            f"Subtracting: 3a + b = {d1[0]}, "
            f"so b = {d1[0]} - {3 * qa} = {qb}. Then c = {terms[0]} - {qa} - {_paren(qb)} = {qc}."
        )
        parts.append(
            f"Check t(3) = {qa}·9 + {_paren(qb)}·3 + {_paren(qc)} = {9 * qa + 3 * qb + qc}, "
            f"matches {terms[2]}."
        )
        sq = k_target * k_target
        value = qa * sq + qb * k_target + qc + slip
        parts.append(
            f"Now t({k_target}) = {qa}·{sq} + {_paren(qb)}·{k_target} + {_paren(qc)} = {qa * sq} + "
            f"{_paren(qb * k_target)} + {_paren(qc)} = {value}."
        )
    if r.chance(_VERIFY_RATE[d - 1]):
        parts.append(_check(r, "the pattern on the given terms"))
        parts.append("Every given term fits the rule I found, so the extension should be right.")
    correct = value == truth
    parts.append(_conclude(r, str(value)))
    attempt = _boxed(r, str(value), f"The pattern is {sub.replace('_', ' ')}, which gives {value}.")
    t_i, tpl = _tpl(r, _SEQ_TEMPLATES[kind], style)
    question = tpl.format(seq=", ".join(map(str, terms)), n=n, k=_ordinal(k_target), kn=k_target)
    return _Problem(
        question, str(truth), "\n\n".join(parts), attempt, correct, kind,
        {"pattern": sub, "terms": terms, "k": k_target or None, "template": t_i},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# iteration: add a small constant n times, keeping the last digit; every step is easy, the answer
# needs all of them

_ITER_TEMPLATES = {
    "pool": (
        "Start with {x}. Apply the rule \"{rule}, then keep only the last digit\" {n} times. What number do you get?",
        "{name} starts with the number {x} and repeats this {n} times: {rule}, then keep only the last digit. "
        "What number does {name} end with?",
        "A counter shows {x}. On every tick it does the following: {rule}, then keep only the last digit. "
        "What does it show after {n} ticks?",
    ),
    # near paraphrases of the pool's wording (the nano base parses only what it has seen),
    # with every 8-word window changed, so decontamination does not see a copy
    "eval": (
        "Start from {x}. Use the rule \"{rule}, then keep just the last digit\" {n} times. Which digit do you get?",
        "{name} begins at the number {x} and does this {n} times over: {rule}, then keep just the last digit. "
        "Which digit does {name} end with?",
    ),
}
_ITER_STEPS = ((2, 3), (3, 4), (5, 6), (7, 8), (9, 10))
# small constants keep the addition table a tiny model must learn small (30 facts): the
# difficulty lies in the number of steps, not in any one of them
_ITER_CONSTANTS = (1, 2, 3)


def _gen_iteration(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    lo, hi = _ITER_STEPS[d - 1]
    x0 = r.randint(0, 9)
    c = r.choice(_ITER_CONSTANTS)
    n = r.randint(lo, hi)
    while n * c % 10 == 0:  # the answer would be the start digit: no steps needed to guess it
        n = r.randint(lo, hi)
    rule = f"add {c}"

    def step(v: int) -> int:
        return (v + c) % 10

    truth = x0
    for _ in range(n):
        truth = step(truth)
    slip = r.randint(1, n) if wrong else 0  # the teacher misreads one last digit

    t_i, tpl = _tpl(r, _ITER_TEMPLATES, style)
    question = tpl.format(x=x0, n=n, rule=rule, name=r.choice(_NAMES))
    # the trace reads the rule, the start and the count from the question at every step
    parts = [f"{r.choice(_OPENERS)} I'll apply the rule one step at a time and count the steps."]
    lines, v = [f"Start: {x0}, and {n} steps to go."], x0
    for i in range(1, n + 1):
        full = v + c
        nxt = (full % 10 + (1 if i == slip else 0)) % 10
        line = f"Step {i} of {n}: {v} + {c} = {full}"
        lines.append(line + (f", last digit {nxt}." if full >= 10 or nxt != full else "."))
        v = nxt
    parts.append("\n".join(lines))
    parts.append(f"That was step {n} of {n}, so I end with {v}.")
    if r.chance(_VERIFY_RATE[d - 1]):
        parts.append(_check(r, "the count of steps"))
        parts.append(f"I applied the rule {n} times, as asked, and ended with {v}. Good.")
    parts.append(_conclude(r, str(v)))
    attempt = _boxed(r, str(v), f"Applying the rule {n} times gives {v}.")
    return _Problem(
        question, str(truth), "\n\n".join(parts), attempt, v == truth, "iterate",
        {"start": x0, "rule": rule, "steps": n, "template": t_i},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# combinatorics

_OBJECTS = ("books", "paintings", "songs", "marbles", "flags", "stamps", "plants", "puzzles", "shirts",
            "coins")  # fmt: skip
_GROUPS = (("teachers", "students"), ("doctors", "nurses"), ("adults", "children"),
           ("chemists", "physicists"))  # fmt: skip
_COMB_TEMPLATES = {
    "choose": {
        "pool": (
            "In how many ways can {n} choose {k} of {m} different {obj}?",
            "How many ways are there to pick {k} {obj} from a set of {m} distinct {obj}?",
        ),
        "eval": ("Determine the number of {k}-element subsets of a collection of {m} distinct {obj}.",),
    },
    "arrange": {
        "pool": (
            "In how many ways can {k} of {m} runners finish in first through {kth} place?",
            "How many ordered lineups of {k} people can {n} make from {m} friends?",
        ),
        "eval": ("Determine the number of ordered selections of {k} items from {m} distinct items.",),
    },
    "beads": {
        "pool": (
            "How many distinct rows can be made from {spec} beads (beads of one colour are identical)?",
            "{n} lines up {spec} beads. Identical colours are indistinguishable. "
            "How many different rows are possible?",
        ),
        "eval": ("Determine the number of distinguishable linear arrangements of {spec} beads.",),
    },
    "committee": {
        "pool": (
            "A committee of {k} is chosen from {a} {g1} and {b} {g2}. "
            "How many committees include at least one of the {g2}?",
            "From {a} {g1} and {b} {g2}, {n} must pick {k} people with at least one of the {g2}. "
            "How many choices are there?",
        ),
        "eval": ("Determine how many {k}-person groups drawn from {a} {g1} and {b} {g2} contain some {g2}.",),
    },
    "divisible": {
        "pool": (
            "How many integers from 1 to {N} are divisible by at least one of {nums}?",
            "Count the integers between 1 and {N} inclusive that are multiples of {nums_or}.",
        ),
        "eval": ("Determine how many positive integers not exceeding {N} have one of {nums} as a divisor.",),
    },
}
_COLOURS = ("red", "blue", "green", "yellow", "white", "black")


def _comb_line(m: int, k: int, label: str = "C") -> tuple[int, str]:
    num = math.perm(m, k)
    den = math.factorial(k)
    top = " × ".join(str(m - i) for i in range(k))
    bottom = " × ".join(str(i) for i in range(k, 0, -1))
    return num // den, f"{label}({m}, {k}) = ({top}) / ({bottom}) = {num} / {den} = {num // den}"


def _gen_combinatorics(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    n = r.choice(_NAMES)
    fields: dict[str, Any] = {"n": n}
    if d == 1:
        kind = "choose"
        m, k = r.randint(4, 12), r.randint(2, 4)
        obj = r.choice(_OBJECTS)
        fields.update(m=m, k=k, obj=obj)
        truth, line = _comb_line(m, k)
        parts = [_intro(r, d, f"count the ways to choose {k} of {m} {obj} where order doesn't matter")]
        parts.append("Order doesn't matter, so this is a binomial coefficient.")
        value = truth
        if wrong:
            value = math.perm(m, k)
            prod_txt = " × ".join(str(m - i) for i in range(k))
            parts.append(f"The number of ways is {m} × ... = {prod_txt} = {value}.")
        else:
            parts.append(line + ".")
        params: dict[str, Any] = {"m": m, "k": k}
    elif d == 2:
        kind = "arrange"
        m, k = r.randint(5, 14), r.randint(2, 4)
        fields.update(m=m, k=k, kth=_ordinal(k))
        truth = math.perm(m, k)
        parts = [_intro(r, d, f"count ordered selections of {k} out of {m}")]
        parts.append(f"Order matters: {m} choices for the first place, {m - 1} for the second, and so on.")
        factors = [m - i for i in range(k)]
        running = factors[0]
        for f_ in factors[1:]:
            parts.append(f"{running} × {f_} = {running * f_}.")
            running *= f_
        value = running + (r.choice((-m, m, 1)) if wrong else 0)
        if wrong:
            parts.append(f"So P({m}, {k}) = {value}.")
        params = {"m": m, "k": k}
    elif d == 3:
        kind = "beads"
        cols = r.sample(_COLOURS, r.randint(2, 4))
        counts = [r.randint(1, 5) for _ in cols]
        counts[0] = max(counts[0], 2)
        total = sum(counts)
        spec = _and([f"{c} {col}" for c, col in zip(counts, cols, strict=True)])
        fields.update(spec=spec)
        den_terms = [math.factorial(c) for c in counts]
        truth = math.factorial(total) // math.prod(den_terms)
        parts = [_intro(r, d, f"count distinct rows of {spec} beads")]
        parts.append(f"There are {total} beads. If all were different there would be {total}! arrangements.")
        parts.append(f"{total}! = {math.factorial(total)}.")
        parts.append(
            "Identical beads of the same colour can be permuted without changing the row, so divide by "
            + " × ".join(f"{c}!" for c in counts)
            + " = "
            + " × ".join(map(str, den_terms))
            + f" = {math.prod(den_terms)}."
        )
        if wrong:
            skip = max(range(len(counts)), key=lambda i: counts[i])
            den = math.prod(t for i, t in enumerate(den_terms) if i != skip)
            parts.append(f"Hmm, actually I only need the {cols[skip]} correction once... so divide by {den}.")
            value = math.factorial(total) // den
        else:
            value = truth
        parts.append(f"{math.factorial(total)} / {math.prod(den_terms) if not wrong else den} = {value}.")
        params = {"counts": dict(zip(cols, counts, strict=True))}
    elif d == 4:
        kind = "committee"
        g1, g2 = r.choice(_GROUPS)
        a, b, k = r.randint(4, 12), r.randint(2, 9), r.randint(3, 5)
        fields.update(a=a, b=b, k=k, g1=g1, g2=g2)
        all_, line_all = _comb_line(a + b, k)
        none_, line_none = _comb_line(a, k)
        truth = all_ - none_
        task = f"count {k}-person committees from {a} {g1} and {b} {g2} with at least one {g2[:-1]}"
        parts = [_intro(r, d, task)]
        parts.append(f"Complementary counting: all committees minus the committees with none of the {g2}.")
        parts.append(f"All committees: {line_all}.")
        if wrong:
            # classic mistake: pick one of the g2 first, then anyone
            value = b * math.comb(a + b - 1, k - 1)
            parts.append(
                f"Actually simpler: choose one of the {g2} ({b} ways) and then any {k - 1} of the remaining "
                f"{a + b - 1} people: {b} × {math.comb(a + b - 1, k - 1)} = {value}."
            )
        else:
            parts.append(f"Committees with no {g2}: {line_none}.")
            value = truth
            parts.append(f"So {all_} - {none_} = {value}.")
        params = {"a": a, "b": b, "k": k}
    else:
        kind = "divisible"
        big = r.randint(100, 5000)
        nums = sorted(r.sample((2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13), 3))
        csv = ", ".join(map(str, nums))
        fields.update(N=big, nums=_and(list(map(str, nums))), nums_or=f"{nums[0]}, {nums[1]} or {nums[2]}")
        parts = [_intro(r, d, f"count integers from 1 to {big} divisible by at least one of {csv}")]
        parts.append("Inclusion-exclusion: |A ∪ B ∪ C| = |A| + |B| + |C| - |A∩B| - |A∩C| - |B∩C| + |A∩B∩C|.")
        singles = [big // v for v in nums]
        single_txt = "; ".join(f"floor({big}/{v}) = {s}" for v, s in zip(nums, singles, strict=True))
        parts.append(f"Singles: {single_txt}.")
        pairs = [(nums[i], nums[j]) for i in range(3) for j in range(i + 1, 3)]
        pair_l = [math.lcm(x, y) for x, y in pairs]
        pair_c = [big // v for v in pair_l]
        pair_txt = "; ".join(
            f"lcm({x}, {y}) = {lv}, floor({big}/{lv}) = {c}"
            for (x, y), lv, c in zip(pairs, pair_l, pair_c, strict=True)
        )
        parts.append(f"Pairs use the lcm: {pair_txt}.")
        tl = math.lcm(*nums)
        tc = big // tl
        parts.append(f"Triple: lcm = {tl}, floor({big}/{tl}) = {tc}.")
        truth = sum(singles) - sum(pair_c) + tc
        value = sum(singles) - sum(pair_c) + (0 if wrong else tc)
        if wrong and value == truth:
            value -= 1
        parts.append(
            f"Total: {' + '.join(map(str, singles))} - ({' + '.join(map(str, pair_c))})"
            + ("" if wrong else f" + {tc}")
            + f" = {value}."
        )
        params = {"N": big, "divisors": nums}
    if wrong and value == truth:
        value += 1
        parts.append(f"Rounding off my bookkeeping, that's {value}.")
    if r.chance(_VERIFY_RATE[d - 1]):
        parts.append(_check(r, "whether order matters and whether I over-counted"))
        parts.append("The setup matches the question, and the arithmetic checks out.")
    correct = value == truth
    parts.append(_conclude(r, str(value)))
    attempt = _boxed(r, str(value), f"Counting carefully gives {value}.")
    t_i, tpl = _tpl(r, _COMB_TEMPLATES[kind], style)
    question = tpl.format(**fields)
    params["template"] = t_i
    return _Problem(question, str(truth), "\n\n".join(parts), attempt, correct, kind, params)


# --------------------------------------------------------------------------------------------
# multiple choice (science / math, GPQA-like format)


@dataclass
class _MC:
    subject: str
    stems: Mapping[str, tuple[str, ...]]
    fields: dict[str, Any]
    value: float
    unit: str
    steps: list[str]
    mistake: float
    mistake_steps: list[str]
    extra: list[float]


# topic -> phrasing family ("pool" / "eval") -> stem templates
_MC_STEMS: dict[str, dict[str, tuple[str, ...]]] = {
    "force": {
        "pool": (
            "A {m} kg cart accelerates at {a} m/s^2. What net force acts on it?",
            "What net force is needed to give a {m} kg box an acceleration of {a} m/s^2?",
        ),
        "eval": ("An object of mass {m} kg undergoes an acceleration of {a} m/s^2. Find the net force.",),
    },
    "speed": {
        "pool": (
            "A cyclist covers {d} m in {t} s at constant speed. What is the speed?",
            "{n} walks {d} m in {t} s. What is the average speed?",
        ),
        "eval": ("Travelling a distance of {d} m takes {t} s. Find the average speed over that interval.",),
    },
    "density": {
        "pool": (
            "A block has mass {mass} g and volume {vol} cm^3. What is its density?",
            "What is the density of a sample with mass {mass} g occupying {vol} cm^3?",
        ),
        "eval": ("A solid specimen weighing {mass} g displaces {vol} cm^3 of water. Find its density.",),
    },
    "neutrons": {
        "pool": (
            "An atom has atomic number {z} and mass number {a}. How many neutrons does it have?",
            "How many neutrons are in a nucleus with {z} protons and mass number {a}?",
        ),
        "eval": ("A nuclide has Z = {z} and A = {a}. Determine its neutron count.",),
    },
    "ohm": {
        "pool": (
            "A current of {i} A flows through a {res} Ω resistor. What is the voltage across it?",
            "What voltage drives {i} A through a resistance of {res} Ω?",
        ),
        "eval": ("A resistor of {res} Ω carries a steady current of {i} A. Find the potential difference.",),
    },
    "moles": {
        "pool": (
            "How many moles are in {mass} g of {name} (molar mass {mm} g/mol)?",
            "A sample of {name} (molar mass {mm} g/mol) has mass {mass} g. How many moles is that?",
        ),
        "eval": ("Given a molar mass of {mm} g/mol, determine the amount of substance in {mass} g {name}.",),
    },
    "wave": {
        "pool": (
            "A wave travels at {v} m/s with frequency {f} Hz. What is its wavelength?",
            "What is the wavelength of a {f} Hz wave moving at {v} m/s?",
        ),
        "eval": ("A periodic wave of frequency {f} Hz propagates with speed {v} m/s. Find the wavelength.",),
    },
    "ke": {
        "pool": (
            "A {m} kg ball moves at {v} m/s. What is its kinetic energy?",
            "What is the kinetic energy of a {m} kg object travelling at {v} m/s?",
        ),
        "eval": ("Determine the translational kinetic energy of a {m} kg mass moving at {v} m/s.",),
    },
    "pe": {
        "pool": (
            "A {m} kg crate is lifted {h} m. Taking g = 10 m/s^2, how much potential energy does it gain?",
            "How much gravitational potential energy does a {m} kg mass gain when raised {h} m "
            "(g = 10 m/s^2)?",
        ),
        "eval": (
            "With g = 10 m/s^2, find the increase in gravitational potential energy of {m} kg "
            "raised by {h} m.",
        ),
    },
    "pressure": {
        "pool": (
            "A force of {F} N acts on an area of {A} cm^2. What pressure does it exert?",
            "What pressure results from {F} N spread evenly over {A} cm^2?",
        ),
        "eval": ("A uniform load of {F} N rests on a contact patch of {A} cm^2. Find the pressure (Pa).",),
    },
    "accel_velocity": {
        "pool": (
            "A net force of {F} N acts on a {m} kg sled initially at rest for {t} s. "
            "What speed does it reach?",
            "Starting from rest, a {m} kg cart is pushed with a constant net force of {F} N for {t} s. "
            "What is its final speed?",
        ),
        "eval": (
            "A body of mass {m} kg, initially stationary, experiences a constant {F} N net force for {t} s. "
            "Find its final speed.",
        ),
    },
    "series": {
        "pool": (
            "A {V} V battery drives current through {r1} Ω and {r2} Ω resistors in series. "
            "What is the voltage across the {r1} Ω resistor?",
            "Resistors of {r1} Ω and {r2} Ω are connected in series to a {V} V source. "
            "Find the voltage drop across the {r1} Ω one.",
        ),
        "eval": (
            "Two resistors, {r1} Ω and {r2} Ω, form a series loop with an ideal {V} V cell. "
            "Determine the potential difference across the {r1} Ω resistor.",
        ),
    },
    "collision": {
        "pool": (
            "A {m1} kg cart moving at {v1} m/s hits and sticks to a stationary {m2} kg cart. "
            "What is their common speed afterwards?",
            "A {m1} kg puck at {v1} m/s collides with a {m2} kg puck at rest, and they move off together. "
            "Find their speed.",
        ),
        "eval": (
            "In a perfectly inelastic collision, {m1} kg moving at {v1} m/s strikes {m2} kg at rest. "
            "Determine the velocity of the combined body.",
        ),
    },
    "stoich": {
        "pool": (
            "Methane burns as CH4 + 2 O2 -> CO2 + 2 H2O. What mass of water forms from {mass} g of "
            "methane (C = 12, H = 1, O = 16)?",
            "If {mass} g of CH4 burns completely (CH4 + 2 O2 -> CO2 + 2 H2O), how many grams of water "
            "form? Use C = 12, H = 1, O = 16.",
        ),
        "eval": (
            "Complete combustion of {mass} g of methane follows CH4 + 2O2 → CO2 + 2H2O. With atomic "
            "masses C 12, H 1, O 16, determine the mass of water produced.",
        ),
    },
    "drop": {
        "pool": (
            "A {m} kg stone is dropped from rest from a height of {h} m (g = 10 m/s^2, no air "
            "resistance). What is its momentum just before it hits the ground?",
            "Ignoring air resistance and taking g = 10 m/s^2, find the momentum of a {m} kg ball "
            "dropped from {h} m at the moment of impact.",
        ),
        "eval": (
            "A {m} kg mass falls freely from rest through {h} m with g = 10 m/s^2. "
            "Determine the magnitude of its momentum on arrival.",
        ),
    },
}


def _mc_force(r: _Rand) -> _MC:
    m, a = r.randint(2, 25), r.randint(2, 12)
    return _MC(
        "physics (Newton's second law)", _MC_STEMS["force"], {"m": m, "a": a}, m * a, "N",
        ["Newton's second law: F = m·a.", f"F = {m} kg × {a} m/s^2 = {m * a} N."],
        m * a + m, [f"F = m·a = {m} × {a}, which is {m * a + m} N."],
        [m + a, m * a * 2],
    )  # fmt: skip


def _mc_speed(r: _Rand) -> _MC:
    v, t = r.randint(2, 30), r.randint(3, 40)
    dist = v * t
    return _MC(
        "kinematics (average speed)", _MC_STEMS["speed"], {"d": dist, "t": t}, v, "m/s",
        ["Average speed = distance / time.", f"v = {dist} m / {t} s = {v} m/s."],
        v + 1, [f"v = {dist} / {t}, that's about {v + 1} m/s."],
        [dist * t, v * 2],
    )  # fmt: skip


def _mc_density(r: _Rand) -> _MC:
    rho, vol = r.randint(2, 20), r.randint(2, 15)
    mass = rho * vol
    return _MC(
        "physics (density)", _MC_STEMS["density"], {"mass": mass, "vol": vol}, rho, "g/cm^3",
        ["Density = mass / volume.", f"ρ = {mass} g / {vol} cm^3 = {rho} g/cm^3."],
        mass * vol, [f"Density relates mass and volume; multiplying, {mass} × {vol} = {mass * vol}."],
        [rho + vol, rho * 2],
    )  # fmt: skip


def _mc_neutrons(r: _Rand) -> _MC:
    z = r.randint(6, 80)
    nn = z + r.randint(0, 40)
    a = z + nn
    return _MC(
        "chemistry (nuclear composition)", _MC_STEMS["neutrons"], {"z": z, "a": a}, nn, "neutrons",
        ["Mass number = protons + neutrons.", f"Neutrons = {a} - {z} = {nn}."],
        a + z, [f"Neutrons plus protons... so {a} + {z} = {a + z}."],
        [z, nn + 1],
    )  # fmt: skip


def _mc_ohm(r: _Rand) -> _MC:
    cur, res = r.randint(2, 12), r.randint(2, 50)
    return _MC(
        "electricity (Ohm's law)", _MC_STEMS["ohm"], {"i": cur, "res": res}, cur * res, "V",
        ["Ohm's law: V = I·R.", f"V = {cur} A × {res} Ω = {cur * res} V."],
        cur * res - cur, [f"V = I·R = {cur} × {res} = {cur * res - cur} V."],
        [res, cur + res],
    )  # fmt: skip


_MOLAR = (("water", 18), ("methane", 16), ("carbon dioxide", 44), ("oxygen gas", 32), ("nitrogen gas", 28),
          ("ammonia", 17))  # fmt: skip


def _mc_moles(r: _Rand) -> _MC:
    name, molar = r.choice(_MOLAR)
    nmol = r.randint(2, 12)
    mass = nmol * molar
    return _MC(
        "chemistry (moles)", _MC_STEMS["moles"], {"mass": mass, "name": name, "mm": molar}, nmol, "mol",
        ["Moles = mass / molar mass.", f"n = {mass} g / {molar} g/mol = {nmol} mol."],
        nmol * 2, [f"n = {mass} / {molar}; that is {nmol * 2} mol."],
        [mass * molar, nmol + 1],
    )  # fmt: skip


def _mc_wave(r: _Rand) -> _MC:
    f, lam = r.randint(2, 50), r.randint(2, 20)
    v = f * lam
    return _MC(
        "waves", _MC_STEMS["wave"], {"v": v, "f": f}, lam, "m",
        ["v = f·λ, so λ = v / f.", f"λ = {v} / {f} = {lam} m."],
        v * f, [f"λ = v·f = {v} × {f} = {v * f} m."],
        [lam + 1, lam * 2],
    )  # fmt: skip


def _mc_ke(r: _Rand) -> _MC:
    m, v = 2 * r.randint(1, 15), r.randint(2, 20)
    ke = m * v * v // 2
    return _MC(
        "mechanics (kinetic energy)", _MC_STEMS["ke"], {"m": m, "v": v}, ke, "J",
        ["KE = (1/2)·m·v^2.", f"v^2 = {v * v}.", f"KE = 0.5 × {m} × {v * v} = {ke} J."],
        m * v * v, [f"KE = m·v^2 = {m} × {v * v} = {m * v * v} J."],
        [m * v // 2, ke + m],
    )  # fmt: skip


def _mc_pe(r: _Rand) -> _MC:
    m, h = r.randint(2, 30), r.randint(2, 50)
    return _MC(
        "mechanics (gravitational potential energy)", _MC_STEMS["pe"], {"m": m, "h": h}, m * 10 * h, "J",
        ["PE = m·g·h.", f"PE = {m} × 10 × {h} = {m * 10 * h} J."],
        m * h, [f"PE = m·h = {m} × {h} = {m * h} J."],
        [m * 10 + h, m * 10 * h * 2],
    )  # fmt: skip


def _mc_pressure(r: _Rand) -> _MC:
    area_cm2 = r.choice((10, 20, 25, 40, 50, 100, 200))
    force = max(1, r.randint(1, 40) * area_cm2 // 100)
    p = force * 10000 // area_cm2
    area_m2 = _fmt(area_cm2 / 10000)
    return _MC(
        "physics (pressure, unit conversion)", _MC_STEMS["pressure"], {"F": force, "A": area_cm2}, p, "Pa",
        ["Pressure = force / area, with the area in m^2.",
         f"{area_cm2} cm^2 = {area_cm2} × 10^-4 m^2 = {area_m2} m^2.", f"p = {force} / {area_m2} = {p} Pa."],
        p / 100, [f"p = F / A = {force} / {area_cm2} = {_fmt(p / 100)} Pa."],
        [p * 10, p / 10],
    )  # fmt: skip


def _mc_accel_velocity(r: _Rand) -> _MC:
    m, a, t = r.randint(2, 20), r.randint(1, 8), r.randint(2, 15)
    force = m * a
    return _MC(
        "dynamics (force, acceleration, velocity)", _MC_STEMS["accel_velocity"], {"F": force, "m": m, "t": t},
        a * t, "m/s",
        [f"a = F/m = {force}/{m} = {a} m/s^2.", f"From rest, v = a·t = {a} × {t} = {a * t} m/s."],
        force * t, [f"v = F·t = {force} × {t} = {force * t} m/s."],
        [a * t * 2, a + t],
    )  # fmt: skip


def _mc_series(r: _Rand) -> _MC:
    r1, r2 = r.randint(1, 12), r.randint(1, 12)
    cur = r.randint(1, 6)
    v = cur * (r1 + r2)
    return _MC(
        "electric circuits (series resistors)", _MC_STEMS["series"], {"V": v, "r1": r1, "r2": r2},
        cur * r1, "V",
        [f"Total resistance R = {r1} + {r2} = {r1 + r2} Ω.", f"Current I = {v} / {r1 + r2} = {cur} A.",
         f"Voltage across {r1} Ω: V1 = I·R1 = {cur} × {r1} = {cur * r1} V."],
        v / r1, [f"The current in the {r1} Ω resistor is {v}/{r1}, so V1 = {_fmt(v / r1)} V."],
        [cur * r2, v],
    )  # fmt: skip


def _mc_collision(r: _Rand) -> _MC:
    m1, m2, k = r.randint(1, 10), r.randint(1, 10), r.randint(1, 4)
    v1 = k * (m1 + m2)
    p = m1 * v1
    vf = m1 * k
    return _MC(
        "mechanics (momentum, inelastic collision)", _MC_STEMS["collision"], {"m1": m1, "v1": v1, "m2": m2},
        vf, "m/s",
        ["Momentum is conserved: m1·v1 = (m1 + m2)·v.", f"Initial momentum {m1} × {v1} = {p} kg·m/s.",
         f"v = {p} / ({m1} + {m2}) = {p} / {m1 + m2} = {vf} m/s."],
        p / m2, [f"v = m1·v1 / m2 = {p} / {m2} = {_fmt(p / m2)} m/s."],
        [v1, vf * 2],
    )  # fmt: skip


def _mc_stoich(r: _Rand) -> _MC:
    nmol = r.randint(1, 12)
    mass = 16 * nmol
    return _MC(
        "chemistry (stoichiometry)", _MC_STEMS["stoich"], {"mass": mass}, 36 * nmol, "g",
        ["Molar mass of CH4 = 12 + 4 = 16 g/mol; of H2O = 2 + 16 = 18 g/mol.",
         f"Moles of CH4 = {mass} / 16 = {nmol} mol.",
         f"Each mole of CH4 gives 2 moles of H2O, so {2 * nmol} mol of water.",
         f"Mass of water = {2 * nmol} × 18 = {36 * nmol} g."],
        18 * nmol, [f"Moles of CH4 = {nmol}, so {nmol} mol of water, i.e. {18 * nmol} g."],
        [mass, 44 * nmol],
    )  # fmt: skip


def _mc_drop(r: _Rand) -> _MC:
    v = 10 * r.randint(1, 6)
    h = v * v // 20
    m = r.randint(1, 12)
    return _MC(
        "mechanics (energy conservation, momentum)", _MC_STEMS["drop"], {"m": m, "h": h}, m * v, "kg·m/s",
        ["Energy conservation: m·g·h = (1/2)·m·v^2, so v = sqrt(2·g·h).",
         f"2·g·h = 2 × 10 × {h} = {20 * h}, and sqrt({20 * h}) = {v} m/s.",
         f"Momentum p = m·v = {m} × {v} = {m * v} kg·m/s."],
        m * 10 * h, [f"Momentum is m·g·h = {m} × 10 × {h} = {m * 10 * h} kg·m/s."],
        [m * v * 2, m * v / 2],
    )  # fmt: skip


_MC_TIERS: tuple[tuple[Callable[[_Rand], _MC], ...], ...] = (
    (_mc_force, _mc_speed, _mc_density, _mc_neutrons, _mc_ohm),
    (_mc_moles, _mc_wave, _mc_speed, _mc_density),
    (_mc_ke, _mc_pe, _mc_pressure),
    (_mc_accel_velocity, _mc_series, _mc_collision),
    (_mc_stoich, _mc_drop, _mc_collision, _mc_series),
)

_MC_PRIME_STEMS = {
    "pool": ("Which of the following numbers is prime?", "Exactly one of these numbers is prime. Which one?"),
    "eval": ("Identify the prime among the options below.",),
}


def _smallest_factor(x: int) -> int:
    for p in range(2, math.isqrt(x) + 1):
        if x % p == 0:
            return p
    return x


def _mc_options(r: _Rand, correct: str, wrong_opts: list[str]) -> tuple[list[str], str]:
    opts = [correct, *wrong_opts[:3]]
    r.shuffle(opts)
    return opts, _LETTERS[opts.index(correct)]


def _gen_multiple_choice(r: _Rand, d: int, wrong: bool, style: str) -> _Problem:
    n = r.choice(_NAMES)
    if d <= 2 and r.chance(0.2):
        # math MC: which number is prime?
        hi = 100 if d == 1 else 400
        prime = r.randint(11, hi)
        while not _is_prime(prime):
            prime += 1
        comps: list[int] = []
        while len(comps) < 3:
            c = r.randint(11, hi) | 1
            hard = c % 5 and c % 3  # no obvious small factor
            if not _is_prime(c) and c not in comps and (hard or (c % 3 == 0 and r.chance(0.2))):
                comps.append(c)
        opts, letter = _mc_options(r, str(prime), [str(c) for c in comps])
        t_i, stem = _tpl(r, _MC_PRIME_STEMS, style)
        parts = [_intro(r, d, "find which option is prime")]
        picked = letter
        for i, o in enumerate(opts):
            x = int(o)
            f = _smallest_factor(x)
            if f == x:
                root = math.isqrt(x)
                parts.append(f"({_LETTERS[i]}) {x}: no prime factor up to sqrt({x}) ≈ {root}. Prime.")
            elif wrong and picked == letter and f >= 7:
                parts.append(f"({_LETTERS[i]}) {x}: not divisible by 2, 3, or 5... I think it's prime.")
                picked = _LETTERS[i]
            else:
                parts.append(f"({_LETTERS[i]}) {x} = {f} × {x // f}, composite.")
        if wrong and picked == letter:
            picked = _LETTERS[(opts.index(str(comps[0])))]
            parts.append(f"Hmm, on reflection ({picked}) looks more convincing to me.")
        body = stem
        params: dict[str, Any] = {"topic": "prime", "options": opts, "template": t_i}
        value_text = str(prime)
    else:
        topic = r.choice(_MC_TIERS[d - 1])(r)
        value = topic.value
        unit = topic.unit
        right_txt = f"{_fmt(float(value))} {unit}"
        wrong_txt: list[str] = []
        for c in [topic.mistake, *topic.extra, value * 3, value + 1, value * 10, value + 2]:
            txt = f"{_fmt(float(c))} {unit}"
            if c > 0 and txt != right_txt and txt not in wrong_txt:
                wrong_txt.append(txt)
        opts, letter = _mc_options(r, right_txt, wrong_txt)
        mistake_txt = f"{_fmt(float(topic.mistake))} {unit}"
        t_i, stem = _tpl(r, topic.stems, style)
        body = stem.format(n=n, **topic.fields)
        parts = [_intro(r, d, f"solve a {topic.subject} question")]
        if d >= 3:
            given = ", ".join(f"{k} = {v}" for k, v in topic.fields.items() if not isinstance(v, str))
            parts.append(f"What is given: {given}. The answer should come out in {unit}.")
        if wrong and mistake_txt in opts:
            parts.extend(topic.mistake_steps)
            picked = _LETTERS[opts.index(mistake_txt)]
            got = mistake_txt
        else:
            parts.extend(topic.steps)
            picked = letter
            got = opts[_LETTERS.index(letter)]
            if wrong:
                picked = _LETTERS[(_LETTERS.index(letter) + 1) % 4]
                got = opts[_LETTERS.index(picked)]
                parts.append(f"Hmm, with rounding that's closest to {got}.")
        if d >= 3:
            verdicts = "; ".join(
                f"({_LETTERS[i]}) {o} " + ("matches" if _LETTERS[i] == picked else "no")
                for i, o in enumerate(opts)
            )
            parts.append(f"Now compare with the options: {verdicts}.")
        else:
            parts.append(f"That's {got}, option ({picked}).")
        if r.chance(_VERIFY_RATE[d - 1]):
            parts.append(_check(r, "the units and the formula"))
            parts.append(f"The answer should be in {unit}, and the formula fits the situation described.")
        params = {"topic": topic.subject, "fields": topic.fields, "options": opts, "template": t_i}
        value_text = opts[_LETTERS.index(letter)]
    if style == "eval":  # benchmark layout: options on one line, separated by semicolons
        question = body + "\n\nOptions: " + "; ".join(f"({_LETTERS[i]}) {o}" for i, o in enumerate(opts))
    else:
        question = body + "\n\n" + "\n".join(f"({_LETTERS[i]}) {o}" for i, o in enumerate(opts))
    params["correct_option"] = value_text
    parts.append(_conclude(r, f"({picked})"))
    attempt = f"Answer: ({picked})" if r.chance(0.6) else f"The correct option is ({picked}).\n\nAnswer: {picked}"
    return _Problem(
        question, letter, "\n\n".join(parts), attempt, picked == letter, "mc", params, choices=opts,
    )  # fmt: skip


_GENERATORS: dict[str, Callable[[_Rand, int, bool, str], _Problem]] = {
    "arithmetic": _gen_arithmetic,
    "letter_count": _gen_letter_count,
    "modular": _gen_modular,
    "base_conversion": _gen_base_conversion,
    "gcd_lcm": _gen_gcd_lcm,
    "sorting": _gen_sorting,
    "linear_equations": _gen_linear_equations,
    "multiple_choice": _gen_multiple_choice,
    "sequences": _gen_sequences,
    "combinatorics": _gen_combinatorics,
    "iteration": _gen_iteration,
}


# --------------------------------------------------------------------------------------------
# public API


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


def _elaborate(r: _Rand, d: int, trace: str) -> str:
    """Lengthen hard traces the way reasoning models do: a plan and a second full pass."""
    paras = trace.split("\n\n")
    if len(paras) < 3:
        return trace
    end = next((i for i in range(1, len(paras)) if paras[i].startswith(_CHECKS)), len(paras) - 1)
    work = paras[1:end]
    if d >= 3 and r.chance(0.15 * d):
        paras.insert(1, r.choice(_PLANS))
    if work and r.chance(_REDO_RATE[d - 1]):
        paras[-1:-1] = [r.choice(_REDO_INTROS), *work, r.choice(_REDO_OUTROS)]
    return "\n\n".join(paras)


def _make(domain: str, difficulty: int, r: _Rand, style: str) -> _Problem:
    if domain not in _GENERATORS:
        raise ValueError(f"unknown synthetic domain {domain!r}; known: {', '.join(DOMAINS)}")
    if difficulty not in (1, 2, 3, 4, 5):
        raise ValueError(f"difficulty must be an int in 1..5, got {difficulty!r}")
    if style == "any":
        style = "pool" if r.chance(0.5) else "eval"
    wrong = r.chance(TEACHER_ERROR_RATE[difficulty - 1])
    p = _GENERATORS[domain](r, difficulty, wrong, style)
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
    p = _make(domain, int(difficulty), _Rand(rng, block=64), style)
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


def _eval_problems(seed: int, n_per_set: int) -> dict[str, list[tuple[str, int, _Problem]]]:
    out: dict[str, list[tuple[str, int, _Problem]]] = {}
    seen: set[str] = set()
    for si, (name, (domains, diffs)) in enumerate(_EVAL_SPECS.items()):
        r = _Rand(np.random.default_rng([int(seed), _STREAM_EVAL, si]))
        rows: list[tuple[str, int, _Problem]] = []
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
    unknown = [d for d in weights if d not in _GENERATORS]
    if unknown or not weights:
        raise ValueError(f"unknown synthetic domain(s) {unknown or list(weights)}; known: {', '.join(DOMAINS)}")
    bad = [d for d, w in weights.items() if not float(w) > 0]
    if bad:
        raise ValueError(f"domain share(s) must be > 0: {', '.join(f'{d}={weights[d]}' for d in bad)}")
    if phrasing not in PHRASINGS:
        raise ValueError(f"phrasing must be 'pool', 'eval' or 'any', got {phrasing!r}")
    r = _Rand(np.random.default_rng([int(seed), _STREAM_WORKED]), block=1024)
    rows: list[dict[str, str]] = []
    for domain in domain_schedule(n, {d: float(w) for d, w in weights.items()}):
        while True:
            p = _make(domain, r.randint(1, 5), r, phrasing)
            if p.correct:
                break
        rows.append({"question": p.question, "answer": p.answer, "trace": p.trace, "domain": domain})
    return pd.DataFrame(rows, columns=["question", "answer", "trace", "domain"])


_JUNK_KINDS = ("asy", "image", "pmarker", "bold")
_OVERLAP_PREFIXES = (
    "Problem: ",
    "Solve the following. ",
    "Here is a question from a practice set. ",
    "Question. ",
)
_OVERLAP_SUFFIXES = (" Explain your reasoning.", " Show all of your work.", " Justify each step briefly.")


def _junk(r: _Rand, question: str) -> tuple[str, str]:
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


def _near_duplicate(r: _Rand, question: str) -> str:
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
    r = _Rand(gen, block=4096)

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

    mess = _Rand(np.random.default_rng([int(seed), _STREAM_MESS]), block=1024)
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


def _overlap_trace(r: _Rand, question: str, answer: str) -> str:
    """A plain teacher trace for a planted eval copy (its generator parameters are not known)."""
    head = " ".join(question.split()[:12])
    return "\n\n".join(
        [
            f"{r.choice(_OPENERS)} I need to work out: {head} ...",
            "I'll set up the computation carefully and go step by step.",
            "Working through each step and checking the intermediate values, everything is consistent.",
            _conclude(r, answer),
        ]
    )
