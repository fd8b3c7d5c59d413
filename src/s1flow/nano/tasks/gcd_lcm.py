"""Greatest common divisor and least common multiple via the Euclidean algorithm."""

from __future__ import annotations

import math
from fractions import Fraction

from s1flow.nano.core import (
    NAMES,
    VERIFY_RATE,
    Problem,
    Rand,
    boxed,
    check,
    conclude,
    fmt,
    intro,
    join_and,
    pick_template,
)

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


def _euclid(r: Rand, a: int, b: int, parts: list[str], slip: bool) -> int:
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


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """The gcd or lcm of two or three numbers."""
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
    parts = [intro(r, d, f"find the {what} of {join_and([str(v) for v in nums])}")]
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
    if r.chance(VERIFY_RATE[d - 1]):
        parts.append(check(r, f"that {value} works"))
        if kind == "gcd":
            checks = [f"{v} / {value} = {fmt(Fraction(v, value))}" for v in nums]
            parts.append("; ".join(checks) + ".")
        else:
            checks = [f"{value} / {v} = {fmt(Fraction(value, v))}" for v in nums]
            parts.append("; ".join(checks) + ".")
        if all(v % value == 0 for v in nums) if kind == "gcd" else all(value % v == 0 for v in nums):
            parts.append("All whole numbers, good.")
        else:
            parts.append("Hmm, close enough; I'll trust the algorithm.")
    correct = value == truth
    parts.append(conclude(r, str(value)))
    attempt = boxed(r, str(value), f"The {what} is {value}.")
    n = r.choice(NAMES)
    templates = dict(_GCD_TEMPLATES[kind])
    if style == "pool" and count == 2 and r.chance(0.25):
        style = "pool2"
    t_i, tpl = pick_template(r, templates, style)
    question = tpl.format(
        nums=join_and([str(v) for v in nums]), csv=", ".join(map(str, nums)), n=n,
        a=nums[0], b=nums[-1],
    )  # fmt: skip
    return Problem(
        question, str(truth), "\n\n".join(parts), attempt, correct, kind,
        {"numbers": nums, "template": f"{style}{t_i}"},
    )  # fmt: skip
