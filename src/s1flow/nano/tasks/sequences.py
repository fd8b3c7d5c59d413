"""Sequences: find the rule (arithmetic, geometric, quadratic, recurrence) and extend it."""

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
    paren,
    pick_template,
)

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


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """The next term of a sequence (`d` 1-4), or term number 20..60 of a quadratic one (`d` 5)."""
    n = r.choice(NAMES)
    slip = r.choice((1, -1, 2, -2)) if wrong else 0
    parts: list[str]
    kind = "next"
    k_target = 0
    if d == 1:
        sub = "arithmetic"
        a0, step = r.randint(1, 40), r.nonzero(-12, 12)
        terms = [a0 + i * step for i in range(5)]
        truth = terms[-1] + step
        parts = [intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
        diffs = [f"{terms[i + 1]} - {paren(terms[i])} = {terms[i + 1] - terms[i]}" for i in range(4)]
        parts.append("Differences: " + "; ".join(diffs) + f". Constant difference {step}.")
        value = terms[-1] + step + slip
        parts.append(f"Next: {terms[-1]} + {paren(step)} = {value}.")
    elif d == 2:
        sub = "geometric"
        a0, ratio = r.randint(1, 6), r.choice((2, 3, 4, -2, -3))
        terms = [a0 * ratio**i for i in range(5)]
        truth = terms[-1] * ratio
        parts = [intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
        diffs = [terms[i + 1] - terms[i] for i in range(4)]
        parts.append(f"Differences: {', '.join(map(str, diffs))}. Not constant, so not arithmetic.")
        ratios = [f"{terms[i + 1]} / {paren(terms[i])} = {ratio}" for i in range(4)]
        parts.append("Ratios: " + "; ".join(ratios) + ". It's geometric with ratio " + str(ratio) + ".")
        value = terms[-1] * ratio + slip
        parts.append(f"Next: {terms[-1]} × {paren(ratio)} = {value}.")
    elif d == 3:
        sub = "quadratic"
        qa, qb, qc = r.randint(1, 4), r.randint(-6, 6), r.randint(-10, 10)
        terms = [qa * i * i + qb * i + qc for i in range(1, 7)]
        truth = qa * 49 + qb * 7 + qc
        parts = [intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
        d1 = [terms[i + 1] - terms[i] for i in range(5)]
        d2 = [d1[i + 1] - d1[i] for i in range(4)]
        parts.append(f"First differences: {', '.join(map(str, d1))}. Not constant.")
        parts.append(f"Second differences: {', '.join(map(str, d2))}. Constant {d2[0]}, so it's quadratic.")
        nd = d1[-1] + d2[0] + slip
        parts.append(f"The next first difference is {d1[-1]} + {paren(d2[0])} = {nd}.")
        value = terms[-1] + nd
        parts.append(f"So the next term is {terms[-1]} + {paren(nd)} = {value}.")
    elif d == 4:
        if r.chance(0.5):
            sub = "fibonacci"
            t0, t1 = r.randint(1, 9), r.randint(1, 12)
            terms = [t0, t1]
            while len(terms) < 7:
                terms.append(terms[-1] + terms[-2])
            truth = terms[-1] + terms[-2]
            parts = [intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
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
            parts = [intro(r, d, "find the next term of " + ", ".join(map(str, terms)))]
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
                + "; ".join(f"{p}·{paren(terms[i])} + {paren(q)} = {terms[i + 1]}" for i in range(2, 5))
                + ". All match."
            )
            value = p * terms[-1] + q + slip
            parts.append(f"Next: {p}·{terms[-1]} + {paren(q)} = {value}.")
    else:
        kind, sub = "nth", "quadratic_nth"
        qa, qb, qc = r.randint(1, 4), r.randint(-6, 6), r.randint(-10, 10)
        terms = [qa * i * i + qb * i + qc for i in range(1, 6)]
        k_target = r.randint(20, 60)
        truth = qa * k_target**2 + qb * k_target + qc
        parts = [intro(r, d, f"find term number {k_target} of " + ", ".join(map(str, terms)))]
        d1 = [terms[i + 1] - terms[i] for i in range(4)]
        d2 = [d1[i + 1] - d1[i] for i in range(3)]
        parts.append(f"First differences: {', '.join(map(str, d1))}.")
        parts.append(f"Second differences: {', '.join(map(str, d2))}.")
        parts.append(f"Constant second difference {d2[0]}, so t(n) = an^2 + bn + c, 2a = {d2[0]}, a = {qa}.")
        parts.append(
            f"t(1) = a + b + c = {terms[0]} and t(2) = 4a + 2b + c = {terms[1]}. "
            f"Subtracting: 3a + b = {d1[0]}, "
            f"so b = {d1[0]} - {3 * qa} = {qb}. Then c = {terms[0]} - {qa} - {paren(qb)} = {qc}."
        )
        parts.append(
            f"Check t(3) = {qa}·9 + {paren(qb)}·3 + {paren(qc)} = {9 * qa + 3 * qb + qc}, "
            f"matches {terms[2]}."
        )
        sq = k_target * k_target
        value = qa * sq + qb * k_target + qc + slip
        parts.append(
            f"Now t({k_target}) = {qa}·{sq} + {paren(qb)}·{k_target} + {paren(qc)} = {qa * sq} + "
            f"{paren(qb * k_target)} + {paren(qc)} = {value}."
        )
    if r.chance(VERIFY_RATE[d - 1]):
        parts.append(check(r, "the pattern on the given terms"))
        parts.append("Every given term fits the rule I found, so the extension should be right.")
    correct = value == truth
    parts.append(conclude(r, str(value)))
    attempt = boxed(r, str(value), f"The pattern is {sub.replace('_', ' ')}, which gives {value}.")
    t_i, tpl = pick_template(r, _SEQ_TEMPLATES[kind], style)
    question = tpl.format(seq=", ".join(map(str, terms)), n=n, k=ordinal(k_target), kn=k_target)
    return Problem(
        question, str(truth), "\n\n".join(parts), attempt, correct, kind,
        {"pattern": sub, "terms": terms, "k": k_target or None, "template": t_i},
    )  # fmt: skip
