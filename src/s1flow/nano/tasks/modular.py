"""Modular arithmetic: a remainder, a product's residue, or a power by successive powers or repeated squaring."""

from __future__ import annotations

import math
from typing import Any

from s1flow.nano.core import (
    NAMES,
    VERIFY_RATE,
    Problem,
    Rand,
    boxed,
    check,
    conclude,
    intro,
    is_prime,
    pick_template,
)

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


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """``x mod m`` (`d` 1), ``a × b mod m`` (`d` 2) or ``a^k mod m`` (`d` 3-5)."""
    n = r.choice(NAMES)
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
        parts = [intro(r, d, f"find {x} modulo {m}")]
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
    if r.chance(VERIFY_RATE[d - 1]):
        if kind == "pow" and math.gcd(a, m) == 1 and is_prime(m) and params["k"] >= m - 1:
            e = params["k"] % (m - 1)
            parts.append(check(r, "with Fermat's little theorem"))
            parts.append(
                f"{m} is prime and does not divide {a}, so {a}^{m - 1} ≡ 1 and {a}^{params['k']} ≡ "
                f"{a}^{e} (mod {m}), since {params['k']} mod {m - 1} = {e}. That agrees with {value}."
            )
        else:
            parts.append(check(r, "the last reduction"))
            parts.append(f"{value} is between 0 and {m - 1}, and the arithmetic above looks right.")
    correct = value == truth
    parts.append(conclude(r, str(value)))
    attempt = boxed(r, str(value), f"Reducing modulo {m} at every step gives {value}.")
    t_i, tpl = pick_template(r, _MOD_TEMPLATES[kind], style)
    question = tpl.format(x=x, m=m, n=n)
    params["template"] = t_i
    return Problem(question, str(truth), "\n\n".join(parts), attempt, correct, kind, params)
