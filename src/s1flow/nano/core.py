"""What the task families share: seeded draws, the problem record and the trace's phrasing.

:class:`Rand` buffers uniform draws from a numpy Generator: every family draws all its randomness
through it, in a fixed order, so the same seed always gives the same problems. :class:`Problem` is
one generated problem. :func:`intro`, :func:`check`, :func:`conclude` and :func:`boxed` write the
recurring sentences of a teacher trace; :func:`fmt`, :func:`paren`, :func:`ordinal` and
:func:`join_and` format numbers and lists; :func:`pick_template` draws a question template of a
phrasing family ("pool" or "eval").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

#: probability that the teacher double-checks part of its work, by difficulty 1..5.
VERIFY_RATE = (0.10, 0.25, 0.40, 0.55, 0.70)


# --------------------------------------------------------------------------------------------
# randomness


class Rand:
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

NAMES = (
    "Ava", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira",
    "Luca", "Maya", "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wen", "Ximena", "Yusuf", "Zoe", "Amara", "Bruno", "Carmen", "Dara", "Emil", "Fatima",
    "Gustav", "Hana", "Ivan", "Jamal", "Keiko", "Leila", "Mateo", "Nadia",
)  # fmt: skip

OPENERS = ("Okay, so", "Alright, so", "Let me think.", "Hmm, okay.", "So", "Right, so", "Let's see:")
_REREADS = (
    "Let me re-read the problem to make sure I have it right.",
    "First, let me make sure I understand what is being asked.",
    "Let me restate the problem in my own words before doing anything.",
    "I should be careful here and not rush.",
)
CHECKS = (
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


def intro(r: Rand, d: int, task: str) -> str:
    """The trace's opening sentence; harder problems more often add a re-read of the question."""
    text = f"{r.choice(OPENERS)} I need to {task}."
    if r.chance(0.12 * d):
        text += " " + r.choice(_REREADS)
    return text


def check(r: Rand, what: str) -> str:
    """A sentence announcing a double-check of `what`."""
    return f"{r.choice(CHECKS)} {what}."


def conclude(r: Rand, answer: str) -> str:
    """The trace's closing sentence naming `answer`."""
    return r.choice(_CONCLUDE).format(a=answer)


def boxed(r: Rand, answer: str, summary: str) -> str:
    """The teacher's final attempt text, in one of four styles (``\\boxed{}`` or ``Final Answer:``)."""
    style = r.randint(0, 3)
    if style == 0:
        return f"The answer is $\\boxed{{{answer}}}$."
    if style == 1:
        return f"{summary} Therefore the answer is $\\boxed{{{answer}}}$."
    if style == 2:
        return f"{summary}\n\nFinal answer: $\\boxed{{{answer}}}$"
    return f"Final Answer: {answer}"


def ordinal(k: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    if 10 <= k % 100 <= 20:
        return f"{k}th"
    return f"{k}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th') }"


def fmt(x: Fraction | int | float) -> str:
    """A number as text: an integer, ``p/q`` for a proper fraction, or a float with at most 2 decimals."""
    if isinstance(x, Fraction):
        return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
    if isinstance(x, float):
        if x == int(x):
            return str(int(x))
        return f"{x:.2f}".rstrip("0").rstrip(".")
    return str(x)


def paren(x: Fraction | int) -> str:
    """`x` formatted, in parentheses when negative."""
    s = fmt(x)
    return f"({s})" if x < 0 else s


def join_and(items: Sequence[str]) -> str:
    """``a``, ``a and b`` or ``a, b, and c``."""
    items = list(items)
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


# --------------------------------------------------------------------------------------------
# problems and templates


@dataclass
class Problem:
    """One generated problem: the question, its reference answer and the teacher's trace and attempt."""

    question: str
    answer: str
    trace: str
    attempt: str
    correct: bool
    kind: str
    params: dict[str, Any]
    choices: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def pick_template(r: Rand, templates: Mapping[str, Sequence[str]], style: str) -> tuple[int, str]:
    """A random template of the `style` family and its index (recorded in the problem's params)."""
    options = templates[style]
    i = r.randint(0, len(options) - 1)
    return i, options[i]


def is_prime(x: int) -> bool:
    """Whether `x` is prime (trial division)."""
    if x < 2:
        return False
    return all(x % p for p in range(2, math.isqrt(x) + 1))
