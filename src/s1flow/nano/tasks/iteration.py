"""Iteration: add a small constant n times, keeping the last digit; every step is easy, the answer
needs all of them."""

from __future__ import annotations

from s1flow.nano.core import (
    NAMES,
    OPENERS,
    VERIFY_RATE,
    Problem,
    Rand,
    boxed,
    check,
    conclude,
    pick_template,
)

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


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """Apply "add c, keep the last digit" a number of times that grows with `d`."""
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

    t_i, tpl = pick_template(r, _ITER_TEMPLATES, style)
    question = tpl.format(x=x0, n=n, rule=rule, name=r.choice(NAMES))
    # the trace reads the rule, the start and the count from the question at every step
    parts = [f"{r.choice(OPENERS)} I'll apply the rule one step at a time and count the steps."]
    lines, v = [f"Start: {x0}, and {n} steps to go."], x0
    for i in range(1, n + 1):
        full = v + c
        nxt = (full % 10 + (1 if i == slip else 0)) % 10
        line = f"Step {i} of {n}: {v} + {c} = {full}"
        lines.append(line + (f", last digit {nxt}." if full >= 10 or nxt != full else "."))
        v = nxt
    parts.append("\n".join(lines))
    parts.append(f"That was step {n} of {n}, so I end with {v}.")
    if r.chance(VERIFY_RATE[d - 1]):
        parts.append(check(r, "the count of steps"))
        parts.append(f"I applied the rule {n} times, as asked, and ended with {v}. Good.")
    parts.append(conclude(r, str(v)))
    attempt = boxed(r, str(v), f"Applying the rule {n} times gives {v}.")
    return Problem(
        question, str(truth), "\n\n".join(parts), attempt, v == truth, "iterate",
        {"start": x0, "rule": rule, "steps": n, "template": t_i},
    )  # fmt: skip
