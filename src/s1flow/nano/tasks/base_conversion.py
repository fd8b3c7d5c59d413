"""Base conversion: expand in powers of the source base, then divide by the target base."""

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
    pick_template,
)

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


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """Convert a number between bases 2..16 (base 10 on one side for `d` 1-3)."""
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

    parts = [intro(r, d, f"convert {digits} from base {b1} to base {b2}")]
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
    if r.chance(VERIFY_RATE[d - 1]) and b2 != 10:
        back = " + ".join(f"{_DIGITS.index(c)}×{b2}^{i}" for i, c in enumerate(reversed(result)) if c != "0")
        check_val = sum(_DIGITS.index(c) * b2**i for i, c in enumerate(reversed(result)))
        parts.append(check(r, f"by converting {result} back"))
        verdict = "which matches." if check_val == dec else f"hmm, vs {dec}..."
        parts.append(f"{back} = {check_val}, {verdict}")
        if check_val != dec:
            parts.append("Probably I slipped in the check itself; the division steps looked fine.")
    correct = result == truth
    parts.append(conclude(r, result))
    attempt = boxed(r, result, f"{digits} in base {b1} is {result} in base {b2}.")
    n = r.choice(NAMES)
    t_i, tpl = pick_template(r, _BASE_TEMPLATES, style)
    question = tpl.format(src=src, b2=b2, n=n)
    return Problem(
        question, truth, "\n\n".join(parts), attempt, correct, "convert",
        {"digits": digits, "from_base": b1, "to_base": b2, "template": t_i},
    )  # fmt: skip
