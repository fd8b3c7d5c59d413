"""s1's formatting filter (released notebook, step 2).

A question is dropped when it contains ``[asy]`` figure code (kept if the source is
AIME), an ``![Image]`` link, a ``p{i}.`` problem-number marker for i in 1..999, or a
``**...**`` bold span followed by a digit on the same line (the notebook's regex).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

# "p{i}." for some i in 1..999 occurs iff this regex matches: 'p', 1-3 digits without
# a leading zero, '.'. One regex scan replaces the notebook's 999 substring tests.
_PROBLEM_NUMBER = re.compile(r"p[1-9][0-9]{0,2}\.")
_BOLD_WITH_DIGIT = re.compile(r"\*\*(?=.*\d)[^\s\]]*\*\*")


def quality_ok(question: str, source: str) -> bool:
    """True when `question` passes s1's formatting filter (`source` is s1's source_type)."""
    clean = (
        "[asy]" not in question
        and "![Image]" not in question
        and _PROBLEM_NUMBER.search(question) is None
        and _BOLD_WITH_DIGIT.search(question) is None
    )
    if clean:
        return True
    # the notebook's elif: any question with figure code from an AIME source is kept
    return "[asy]" in question and "AIME" in source


def quality_mask(questions: Iterable[str], sources: Iterable[str]) -> np.ndarray:
    """Vector form of :func:`quality_ok`."""
    return np.fromiter((quality_ok(q, s) for q, s in zip(questions, sources, strict=True)), dtype=bool)
