"""Arithmetic: multi-step integer expressions, evaluated one operation at a time (post-order)."""

from __future__ import annotations

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
    paren,
    pick_template,
)

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


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """An expression with more operations and larger numbers as `d` grows."""
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

    n = r.choice(NAMES)
    t_i, tpl = pick_template(r, _ARITH_TEMPLATES, style)
    question = tpl.format(e=expr, n=n)

    parts = [intro(r, d, f"evaluate {expr}")]
    if any(s[1] == "*" for s in steps) and any(s[1] != "*" for s in steps):
        parts.append("Multiplication comes before addition and subtraction, and parentheses come first.")
    sym = {"+": "+", "-": "-", "*": "×"}
    for i, (a, op, b, c, _true) in enumerate(steps):
        line = f"{paren(a)} {sym[op]} {paren(b)} = {c}."
        if op == "*" and abs(b) >= 10 and b % 10 and i != slip_step:
            tens, ones = b - b % 10, b % 10
            line = (
                f"{paren(a)} × {b} = {paren(a)} × {tens} + {paren(a)} × {ones} = "
                f"{a * tens} + {paren(a * ones)} = {c}."
            )
        if i < len(steps) - 1 and (d >= 2 or r.chance(0.5)):
            line += f" Now the expression is {shapes[i]}."
        parts.append(line)
    if r.chance(VERIFY_RATE[d - 1]):
        k = r.randint(0, len(steps) - 1)
        a, op, b, c, true = steps[k]
        parts.append(check(r, f"{paren(a)} {sym[op]} {paren(b)}"))
        if c != true:
            parts.append(f"Yes, I get {c} again.")
        elif op == "+":
            parts.append(f"{c} - {paren(b)} = {a}, so {c} is right.")
        elif op == "-":
            parts.append(f"{c} + {paren(b)} = {a}, so {c} is right.")
        else:
            parts.append(f"{paren(a)} × {b}: adding {paren(a)} to itself {b} times gives {c}. Good.")
    if d >= 4 and r.chance(0.5):
        parts.append(f"Let me trace the whole chain once more: {' -> '.join(shapes)}. That looks consistent.")
    parts.append(conclude(r, str(value)))
    attempt = boxed(r, str(value), f"Evaluating {expr} step by step gives {value}.")
    return Problem(
        question, str(truth), "\n\n".join(parts), attempt, correct, "expression",
        {"expression": expr, "n_ops": n_ops, "template": t_i},
    )  # fmt: skip
