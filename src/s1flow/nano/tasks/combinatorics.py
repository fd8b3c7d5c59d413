"""Combinatorics: choices, arrangements, multiset rows, complementary counting and inclusion-exclusion."""

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
    join_and,
    ordinal,
    pick_template,
)

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


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """One counting problem; `d` picks the kind (choose, arrange, beads, committee, divisible)."""
    n = r.choice(NAMES)
    fields: dict[str, Any] = {"n": n}
    if d == 1:
        kind = "choose"
        m, k = r.randint(4, 12), r.randint(2, 4)
        obj = r.choice(_OBJECTS)
        fields.update(m=m, k=k, obj=obj)
        truth, line = _comb_line(m, k)
        parts = [intro(r, d, f"count the ways to choose {k} of {m} {obj} where order doesn't matter")]
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
        fields.update(m=m, k=k, kth=ordinal(k))
        truth = math.perm(m, k)
        parts = [intro(r, d, f"count ordered selections of {k} out of {m}")]
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
        spec = join_and([f"{c} {col}" for c, col in zip(counts, cols, strict=True)])
        fields.update(spec=spec)
        den_terms = [math.factorial(c) for c in counts]
        truth = math.factorial(total) // math.prod(den_terms)
        parts = [intro(r, d, f"count distinct rows of {spec} beads")]
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
        parts = [intro(r, d, task)]
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
        fields.update(N=big, nums=join_and(list(map(str, nums))), nums_or=f"{nums[0]}, {nums[1]} or {nums[2]}")
        parts = [intro(r, d, f"count integers from 1 to {big} divisible by at least one of {csv}")]
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
    if r.chance(VERIFY_RATE[d - 1]):
        parts.append(check(r, "whether order matters and whether I over-counted"))
        parts.append("The setup matches the question, and the arithmetic checks out.")
    correct = value == truth
    parts.append(conclude(r, str(value)))
    attempt = boxed(r, str(value), f"Counting carefully gives {value}.")
    t_i, tpl = pick_template(r, _COMB_TEMPLATES[kind], style)
    question = tpl.format(**fields)
    params["template"] = t_i
    return Problem(question, str(truth), "\n\n".join(parts), attempt, correct, kind, params)
