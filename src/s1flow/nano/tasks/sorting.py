"""Sorting a list, or finding its k-th smallest / largest element, by repeated selection."""

from __future__ import annotations

from s1flow.nano.core import (
    NAMES,
    VERIFY_RATE,
    Problem,
    Rand,
    boxed,
    check,
    conclude,
    intro,
    ordinal,
    pick_template,
)

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


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """Sort a list of distinct integers, or pick its k-th smallest / largest element."""
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
        f"find the {ordinal(k)} {ext} of {', '.join(map(str, nums))}"
    )
    parts = [intro(r, d, task)]
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
        parts.append(f"The {ordinal(k)} number I took is {value}.")
    if r.chance(VERIFY_RATE[d - 1]):
        parts.append(check(r, "the count and the order"))
        parts.append(
            f"There are {size} numbers in the list, and each one I took was the {ext} of what remained. "
            "Looks fine."
        )
    correct = value == truth
    parts.append(conclude(r, value))
    attempt = boxed(r, value, f"Taking the {ext} remaining number each time gives {value}.")
    n = r.choice(NAMES)
    t_i, tpl = pick_template(r, _SORT_TEMPLATES[kind], style)
    question = tpl.format(order=order, lst=", ".join(map(str, nums)), n=n, k=ordinal(k), ext=ext)
    return Problem(
        question, truth, "\n\n".join(parts), attempt, correct, kind,
        {"numbers": nums, "descending": desc, "k": k if kind == "kth" else None, "template": t_i},
    )  # fmt: skip
