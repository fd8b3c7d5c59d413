"""Linear equations: one unknown, or 2x2 / 3x3 systems solved by elimination."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

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
    paren,
    pick_template,
)

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
        body = v if mag == 1 else f"{fmt(mag)}{v}"
        if not out:
            out = ("-" if c < 0 else "") + body
        else:
            out += (" - " if c < 0 else " + ") + body
    if const:
        out = (out + (" - " if const < 0 else " + ") + fmt(abs(const))) if out else fmt(const)
    return out or "0"


def _solve2(
    r: Rand, rows: list[tuple[int, int, int]], names: tuple[str, str], parts: list[str], slip: bool
) -> tuple[Fraction, Fraction]:
    (a1, b1, c1), (a2, b2, c2) = rows
    u, v = names
    first = f"{_lin([(a1 * a2, u), (b1 * a2, v)])} = {c1 * a2}"
    second = f"{_lin([(a1 * a2, u), (b2 * a1, v)])} = {c2 * a1}"
    parts.append(
        f"To eliminate {u}, multiply the first equation by {paren(a2)} and the second by {paren(a1)}: "
        f"{first} and {second}."
    )
    bb = b1 * a2 - b2 * a1
    cc = c1 * a2 - c2 * a1
    if slip:
        cc += r.choice((1, -1, 2, a1 or 1))
    parts.append(
        f"Subtracting the second from the first: ({b1 * a2} - {paren(b2 * a1)}){v} = "
        f"{c1 * a2} - {paren(c2 * a1)}, so {_lin([(bb, v)])} = {cc}."
    )
    yv = Fraction(cc, bb)
    parts.append(f"So {v} = {cc}/{paren(bb)} = {fmt(yv)}.")
    xv = Fraction(c1 - b1 * yv, a1)
    parts.append(
        f"Back into the first equation: {_lin([(a1, u)])} + {paren(b1)}·{paren(yv)} = {c1}, so "
        f"{_lin([(a1, u)])} = {c1} - {paren(b1 * yv)} = {fmt(c1 - b1 * yv)}, and {u} = {fmt(xv)}."
    )
    return xv, yv


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """One equation in x (`d` 1-2), a 2x2 system (`d` 3-4) or a 3x3 system (`d` 5)."""
    n = r.choice(NAMES)
    parts: list[str]
    if d <= 2:
        kind = "one"
        x = r.randint(-12, 12)
        a = r.nonzero(-9, 9) if d == 2 else r.randint(2, 9)
        b = r.nonzero(-30, 30)
        if d == 1:
            c = a * x + b
            e1 = f"{_lin([(a, 'x')], b)} = {c}"
            parts = [intro(r, d, f"solve {e1}")]
            rhs = c - b + (2 * b if wrong else 0)  # slip: moved b across with the wrong sign
            ax = _lin([(a, "x")])
            parts.append(f"Subtract {paren(b)} from both sides: {ax} = {c} - {paren(b)} = {rhs}.")
            value_f = Fraction(rhs, a)
            parts.append(f"Divide by {a}: x = {rhs}/{a} = {fmt(value_f)}.")
        else:
            c2 = r.nonzero(-9, 9)
            while c2 == a:
                c2 = r.nonzero(-9, 9)
            dd = a * x + b - c2 * x
            e1 = f"{_lin([(a, 'x')], b)} = {_lin([(c2, 'x')], dd)}"
            parts = [intro(r, d, f"solve {e1}")]
            coef = a - c2
            rhs = dd - b + (r.choice((1, -1)) if wrong else 0)
            parts.append(
                f"Collect the x terms on the left: ({a} - {paren(c2)})x = {dd} - {paren(b)}, "
                f"so {_lin([(coef, 'x')])} = {rhs}."
            )
            value_f = Fraction(rhs, coef)
            parts.append(f"Then x = {rhs}/{paren(coef)} = {fmt(value_f)}.")
        truth, value = str(x), fmt(value_f)
        if r.chance(VERIFY_RATE[d - 1]):
            lhs = a * value_f + b
            parts.append(check(r, f"by substituting x = {value}"))
            parts.append(f"Left side: {a}·{paren(value_f)} + {paren(b)} = {fmt(lhs)}. Consistent.")
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
        parts = [intro(r, d, "solve the system " + "; ".join(eq_txt))]
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
                    f"{paren(a1)} × (equation {j + 1}) - {paren(aj)} × (equation 1): "
                    f"{_lin([(nb, 'y'), (nc, 'z')])} = {nd}."
                )
                reduced.append((nb, nc, nd))
            if reduced[0][0] == 0:
                reduced.reverse()
            parts.append("Now this is a 2x2 system in y and z.")
            yv, zv = _solve2(r, reduced, ("y", "z"), parts, wrong)
            xv = Fraction(d1 - b1 * yv - c1 * zv, a1)
            parts.append(
                f"Finally from the first equation: {_lin([(a1, 'x')])} = {d1} - {paren(b1)}·{paren(yv)} - "
                f"{paren(c1)}·{paren(zv)} = {fmt(d1 - b1 * yv - c1 * zv)}, so x = {fmt(xv)}."
            )
            values = [xv, yv, zv]
        truth = "(" + ", ".join(map(str, sol)) + ")"
        value = "(" + ", ".join(fmt(v) for v in values) + ")"
        if r.chance(VERIFY_RATE[d - 1]):
            row, cst = rows[-1], consts[-1]
            got = sum(c * v for c, v in zip(row, values, strict=True))
            parts.append(check(r, "with the last equation"))
            terms = " + ".join(f"{paren(c)}·{paren(v)}" for c, v in zip(row, values, strict=True))
            parts.append(f"{terms} = {fmt(got)}, and it should be {cst}." + (" Good." if got == cst else ""))
            if got != cst:
                parts.append("Close; maybe I mis-added in the check. I'll go with what I have.")
        eqs = {f"e{i + 1}": e for i, e in enumerate(eq_txt)}
        params = {"equations": eq_txt}
    correct = value == truth
    parts.append(conclude(r, value))
    attempt = boxed(r, value, f"Solving for the unknowns gives {value}.")
    t_i, tpl = pick_template(r, _LIN_TEMPLATES[kind], style)
    question = tpl.format(n=n, tup=tup, vars=var_names, **eqs)
    params["template"] = t_i
    return Problem(question, truth, "\n\n".join(parts), attempt, correct, kind, params)
