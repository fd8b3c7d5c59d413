"""The task families: one module per domain, each with ``generate(r, d, wrong, style) -> Problem``.

``generate`` draws one problem of difficulty `d` (1..5) from the seeded
:class:`~s1flow.nano.core.Rand` `r`, works it in a teacher trace (with one slip when `wrong`)
and words the question with the `style` family's templates ("pool" or "eval").
:data:`GENERATORS` maps each domain name to its family's generator.
"""

from __future__ import annotations

from collections.abc import Callable

from s1flow.nano.core import Problem, Rand
from s1flow.nano.tasks import (
    arithmetic,
    base_conversion,
    combinatorics,
    gcd_lcm,
    iteration,
    letters,
    linear_equations,
    modular,
    multiple_choice,
    sequences,
    sorting,
)

__all__ = ["GENERATORS"]

#: domain name -> generator ``(r, difficulty, wrong, style) -> Problem``.
GENERATORS: dict[str, Callable[[Rand, int, bool, str], Problem]] = {
    "arithmetic": arithmetic.generate,
    "letter_count": letters.generate,
    "modular": modular.generate,
    "base_conversion": base_conversion.generate,
    "gcd_lcm": gcd_lcm.generate,
    "sorting": sorting.generate,
    "linear_equations": linear_equations.generate,
    "multiple_choice": multiple_choice.generate,
    "sequences": sequences.generate,
    "combinatorics": combinatorics.generate,
    "iteration": iteration.generate,
}
