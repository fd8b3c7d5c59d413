"""Offline grading of model outputs: answer extraction, math equivalence, majority vote, summaries.

Math answers are compared with math-verify (``parse`` + ``verify``) behind a fast
normalised-string check; multiple-choice answers by letter. Nothing here raises on odd
model output: an unparseable or pathological answer is graded wrong.

math-verify bounds its sympy work with ``signal.alarm``, which only works in the main
thread (elsewhere it raises ``ValueError``). We call it with its timeouts disabled
(``parsing_timeout=None`` / ``timeout_seconds=None``) and impose our own deadline that
works in any thread: a timer raises :class:`GradingTimeout` asynchronously in the grading
thread (``PyThreadState_SetAsyncExc``), which interrupts Python code just like the signal
handler would. Like the signal approach it cannot interrupt a single long-running C call.
"""

from __future__ import annotations

import ctypes
import logging
import math
import re
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import pandas as pd

from s1flow.io import require_columns

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds one math comparison (parsing both sides + verify) may take before it is graded wrong.
MATH_TIMEOUT_SECONDS: float = 5.0
#: Longer extracted answers are only compared as normalised strings (never handed to sympy).
MAX_MATH_ANSWER_CHARS: int = 1000
MC_LETTERS = "ABCD"

#: samples.parquet: the question, the setting (its label, then its typed columns, see s1flow.generate.setting), the
#: sample and its grading
SAMPLE_COLUMNS = ["qid", "setting", "method", "cap", "budget", "num_wait", "min_thinking", "condition",
                  "stated_budget", "length_class", "forced", "samples_per_question", "sample", "thinking", "answer",
                  "thinking_tokens", "answer_tokens", "finish", "extracted", "correct"]
SUMMARY_COLUMNS = ["setting", "budget", "num_wait", "n_questions", "n_samples", "accuracy", "mean_thinking_tokens",
                   "cap_share"]
PER_QUESTION_COLUMNS = ["setting", "qid", "correct"]


# --------------------------------------------------------------------------- extraction

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_BARE_RE = re.compile(r"\\boxed +([^\s${}]+)")
_ANSWER_RE = re.compile(r"(?i:final\s+answer|answer)\s*\**\s*:")
_LEAD_RE = re.compile(r"^(?i:the\s+(?:final\s+)?answer\s+is\s*:?\s*)")


def _boxed_contents(text: str) -> list[tuple[int, str]]:
    """(position, content) of every ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces."""
    out = []
    for m in _BOX_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                i += 2  # an escaped brace \{ or \} does not count
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    out.append((m.start(), text[m.end():i]))
                    break
            i += 1
    for m in _BOX_BARE_RE.finditer(text):
        out.append((m.start(), m.group(1)))
    out.sort(key=lambda t: t[0])
    return out


_HOPE_RE = re.compile(r"\.?\s*I hope it is correct\.?\s*$", re.I)


def _clean_line(s: str) -> str:
    s = _HOPE_RE.sub("", s.strip())  # Minerva's "Final Answer: The final answer is $x$. I hope it is correct."
    s = s.strip().strip("*").strip()
    s = _LEAD_RE.sub("", s).strip().strip("*").strip()
    while s.endswith(".") and not s.endswith(".."):
        s = s[:-1].rstrip()
    return s


def _extract_math(text: str) -> str | None:
    boxes = _boxed_contents(text)
    if boxes:
        content = boxes[-1][1].strip()
        if content:
            return content
    matches = list(_ANSWER_RE.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end():]
    lines = rest.split("\n")
    first = _clean_line(lines[0])
    if first:
        return first
    for line in lines[1:]:  # "Answer:" alone on its line: the next non-empty line
        cleaned = _clean_line(line)
        if cleaned:
            return cleaned
    return None


def _mc_patterns(letters: str) -> list[re.Pattern[str]]:
    cls = f"[{re.escape(letters)}]"
    return [
        re.compile(rf"(?i:answer)\s*\**\s*:\s*[\s*]*(?:\$\s*)?(?:\\text\{{)?\(?({cls})\)?(?![A-Za-z0-9])"),
        re.compile(rf"\\boxed\s*\{{\s*(?:\\text(?:bf)?\{{)?\s*\(?({cls})\)?\s*\}}?\s*\}}"),
        re.compile(rf"\(({cls})\)"),
        # a lower-case letter only when it is all that follows "Answer:" on its line ("Answer: b.")
        re.compile(rf"(?i:answer)\s*\**\s*:[ \t*]*\(?({cls.lower()})\)?[ \t.*]*$", re.M),
    ]


def _extract_mc(text: str, letters: str) -> str | None:
    best: tuple[int, str] | None = None
    for pattern in _mc_patterns(letters):
        for m in pattern.finditer(text):
            if best is None or m.start() >= best[0]:
                best = (m.start(), m.group(1).upper())
    return best[1] if best else None


#: What a sample is graded on: the answer section of its output (s1's rule) or thinking + answer.
GRADED_TEXTS = ("answer", "all")


def answer_section(output: str, *, answer_start: str = "<|im_start|>answer", think_stop: str = "<|im_start|>"
                   ) -> str:
    """The part of a whole output (thinking start + thinking + answer) that s1's tasks grade (S1_REFERENCE 9.3).

    The text after the last ``answer_start + "\n"``; if there is none, the text after the last
    `think_stop` without its first line; if there is neither, the whole output. The thinking is
    never searched for an answer.
    """
    head = answer_start + "\n"
    if head in output:
        return output.split(head)[-1]
    if think_stop in output:
        rest = output.split(think_stop)[-1]
        return "\n".join(rest.split("\n")[1:]) if "\n" in rest else rest
    return output


def extract_answer(text: str | None, kind: str, *, letters: str = MC_LETTERS) -> str | None:
    """The final answer in a model response, or None.

    Math: the content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (balanced braces), else what
    follows the last ``Final Answer:`` / ``Answer:`` on its line (stripped, markdown ``**`` and a
    trailing period removed). MC (``kind="mc"``): the letter of the last ``Answer: X``,
    ``Answer: (X)``, ``\\boxed{X}`` or ``(X)``.
    """
    if not isinstance(text, str) or not text:
        return None
    if kind == "mc":
        return _extract_mc(text, letters)
    if kind == "math":
        return _extract_math(text)
    raise ValueError(f"unknown answer kind {kind!r}; expected 'math' or 'mc'")


# --------------------------------------------------------------------------- thread-safe deadline


class GradingTimeout(BaseException):
    """Raised asynchronously in the grading thread when a comparison runs past its deadline.

    A BaseException, so math-verify's own ``except Exception`` handlers cannot swallow it.
    """


# Own prototypes (not the shared ctypes.pythonapi attribute): one to set, one to clear (exc=NULL).
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))
_clear_async_exc_fn = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))


def _clear_async_exc(tid: int) -> None:
    _clear_async_exc_fn(tid, None)  # NULL clears a pending exception that was not raised yet


def call_with_deadline(fn: Callable[[], T], seconds: float | None) -> T:
    """Run ``fn()`` in the current thread; raise :class:`TimeoutError` if it runs past `seconds`.

    Works in any thread (no signals). The interruption lands at the next Python bytecode, so
    a single long C call (e.g. a huge integer power) finishes first.
    """
    if seconds is None or seconds <= 0:
        return fn()
    tid = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                _set_async_exc(tid, GradingTimeout)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    try:
        try:
            timer.start()
            return fn()
        finally:
            with lock:
                state["done"] = True
            if state["fired"]:
                _clear_async_exc(tid)
    except GradingTimeout:
        raise TimeoutError(f"gave up after {seconds} s") from None
    finally:
        timer.cancel()


# --------------------------------------------------------------------------- correctness

_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?")


def normalise_answer(s: str | None) -> str:
    """A light canonical form for string comparison and vote grouping (never raises)."""
    if s is None:
        return ""
    s = str(s).strip()
    s = _TEXT_RE.sub(r"\1", s)
    s = _DEGREE_RE.sub("", s)
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\ ", ""),
                     ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("$", ""), ("\\%", ""), ("%", "")):
        s = s.replace(old, new)
    s = "".join(s.split()).rstrip(".").lower()
    if re.fullmatch(r"[+-]?\d+", s):
        sign = "-" if s.startswith("-") else ""
        s = sign + (s.lstrip("+-").lstrip("0") or "0")
    return s


_MV_LOCK = threading.Lock()
_MV_READY = False


def _math_verify() -> tuple[Any, Any]:
    global _MV_READY
    import math_verify

    if not _MV_READY:
        with _MV_LOCK:
            if not _MV_READY:
                # We disable math-verify's signal timeouts on purpose; silence its one-time warning.
                class _Quiet(logging.Filter):
                    def filter(self, record: logging.LogRecord) -> bool:
                        return "Timeout is disabled" not in record.getMessage()

                for name in ("math_verify.parser", "math_verify.grader"):
                    logging.getLogger(name).addFilter(_Quiet())
                _MV_READY = True
    return math_verify.parse, math_verify.verify


def _parse_math(s: str, signal_timeout: int | None) -> list:
    parse, _ = _math_verify()
    s = s.strip()
    if "$" in s or "\\(" in s or "\\[" in s:
        candidates = [s, "\\boxed{" + s.replace("$", "").strip() + "}"]
    else:
        candidates = ["\\boxed{" + s + "}", "$" + s + "$"]
    for cand in candidates:
        parsed = parse(cand, parsing_timeout=signal_timeout)
        if parsed:
            return parsed
    return []


def _math_equal(gold: str, pred: str, signal_timeout: int | None) -> bool:
    parse, verify = _math_verify()
    g, p = _parse_math(gold, signal_timeout), _parse_math(pred, signal_timeout)
    if not g or not p:
        return False
    return bool(verify(g, p, timeout_seconds=signal_timeout))


_EXPONENT_RE = re.compile(r"\^|\*\*")
_BIG_FACTORIAL_RE = re.compile(r"\d{5,}\s*!")
_LATEX_CMD_RE = re.compile(r"\\[A-Za-z]+")


def _explosive(s: str) -> bool:
    """Whether sympy might evaluate `s` into a gigantic integer (a C-level power nobody can interrupt).

    Numeric power towers (``9^{9^{9}}``, ``9**9**9``), exponents with 5+ digits and factorials
    of 5+ digit numbers. Such answers are compared as normalised strings only.
    """
    if _BIG_FACTORIAL_RE.search(s):
        return True
    for m in _EXPONENT_RE.finditer(s):
        rest = s[m.end():].lstrip()
        if rest.startswith("{"):
            depth, end = 0, len(rest)
            for j, ch in enumerate(rest):
                depth += (ch == "{") - (ch == "}")
                if depth == 0:
                    end = j
                    break
            exponent, after = rest[1:end], rest[end + 1:]
        else:
            token = re.match(r"[-+(]*[\w.\\]*", rest).group(0)
            exponent, after = token, rest[len(token):]
        if re.search(r"\d{5,}", exponent):
            return True
        tower = _EXPONENT_RE.search(exponent) or _EXPONENT_RE.match(after.lstrip())
        if tower and not re.search(r"[A-Za-z]", _LATEX_CMD_RE.sub("", exponent)):
            return True
    return False


def is_correct(extracted: str | None, gold: str | None, kind: str, *,
               timeout: float | None = None) -> bool:
    """Whether an extracted answer matches the gold one. Never raises on odd input.

    mc: letter equality (case-insensitive). math: equal normalised strings, else math-verify
    equivalence (``verify(parse(gold), parse(pred))``) within `timeout` seconds (default
    :data:`MATH_TIMEOUT_SECONDS`; a timeout or a parse failure grades wrong). In the main
    thread math-verify's own ``signal.alarm`` timeouts are used (they can also interrupt a long
    integer power); in any other thread its timeouts are disabled and :func:`call_with_deadline`
    bounds the call instead. Answers that could explode into gigantic integers (power towers,
    huge exponents or factorials) are never given to sympy, in any thread, so grades do not
    depend on the thread.
    """
    if extracted is None or gold is None:
        return False
    extracted, gold = str(extracted).strip(), str(gold).strip()
    if not extracted or not gold:
        return False
    if kind == "mc":
        return extracted.upper() == gold.upper()
    if kind != "math":
        raise ValueError(f"unknown answer kind {kind!r}; expected 'math' or 'mc'")
    if normalise_answer(extracted) == normalise_answer(gold):
        return True
    if len(extracted) > MAX_MATH_ANSWER_CHARS or _explosive(extracted) or _explosive(gold):
        return False
    seconds = MATH_TIMEOUT_SECONDS if timeout is None else timeout
    try:
        if threading.current_thread() is threading.main_thread() and seconds and seconds > 0:
            return _math_equal(gold, extracted, max(1, math.ceil(seconds)))
        return call_with_deadline(lambda: _math_equal(gold, extracted, None), seconds)
    except TimeoutError:
        log.warning("math grading timed out after %s s (graded wrong): %.80r vs gold %.80r", seconds, extracted, gold)
        return False
    except Exception as exc:  # math-verify / sympy on arbitrary model output
        log.debug("math grading failed (graded wrong): %s", exc)
        return False


def grade(text: str | None, gold: str | None, kind: str) -> tuple[str | None, bool]:
    """``(extracted answer, correct)`` for one model response."""
    extracted = extract_answer(text, kind)
    return extracted, is_correct(extracted, gold, kind)


# --------------------------------------------------------------------------- aggregation


def majority_vote(answers: Sequence[str | None], key: Callable[[str], Hashable] | None = None) -> str | None:
    """The most common non-None answer (ties: the one seen first); None if there is none.

    With `key`, answers with equal keys count as one (the first spelling is returned).
    """
    counts: dict[Hashable, int] = {}
    first: dict[Hashable, tuple[int, str]] = {}
    for i, a in enumerate(answers):
        if a is None or (isinstance(a, float) and a != a):
            continue
        k = key(a) if key is not None else a
        counts[k] = counts.get(k, 0) + 1
        first.setdefault(k, (i, a))
    if not counts:
        return None
    best = max(counts, key=lambda k: (counts[k], -first[k][0]))
    return first[best][1]


def _vote_key(a: str) -> str:
    return normalise_answer(a) or a


def _first_value(s: pd.Series) -> Any:
    vals = s.dropna()
    return vals.iloc[0] if len(vals) else None


def _question_correct(qg: pd.DataFrame) -> bool:
    """Whether one question's samples (of one setting) count as correct; see :func:`per_question_correct`."""
    qg = qg.sort_values("sample", kind="stable")
    correct = [bool(c) if c is not None and c == c else False for c in qg["correct"]]
    if len(qg) == 1:
        return correct[0]
    extracted = [None if e is None or (isinstance(e, float) and e != e) else str(e) for e in qg["extracted"]]
    voted = majority_vote(extracted, key=_vote_key)
    if voted is None:
        return False
    k = _vote_key(voted)
    return next(c for e, c in zip(extracted, correct, strict=True) if e is not None and _vote_key(e) == k)


def _per_question(group: pd.DataFrame) -> list[tuple[Any, bool]]:
    return [(qid, _question_correct(qg)) for qid, qg in group.groupby("qid", sort=False)]


def per_question_correct(samples: pd.DataFrame, *, where: str = "samples") -> pd.DataFrame:
    """Per (``setting``, ``qid``): whether the question counts as correct (columns setting, qid, correct).

    One sample: its ``correct``. Several samples: the sample (lowest ``sample`` first) whose
    ``extracted`` answer wins the majority vote (grouped by :func:`normalise_answer`) decides;
    no extracted answer at all is wrong. Settings and questions keep their first-seen order.
    """
    require_columns(samples, ["qid", "setting", "sample", "extracted", "correct"], where)
    rows = [(setting, qid, ok)
            for setting, group in samples.groupby("setting", sort=False, dropna=False)
            for qid, ok in _per_question(group)]
    return pd.DataFrame(rows, columns=PER_QUESTION_COLUMNS).astype({"correct": bool})


def summarise(samples: pd.DataFrame, *, where: str = "samples") -> pd.DataFrame:
    """Per ``setting``: questions, samples, accuracy, mean thinking tokens and share of capped runs.

    Accuracy is the mean over questions of :func:`per_question_correct`: with several samples
    of a (qid, setting) the question counts as correct when the majority-voted ``extracted``
    answer (grouped by :func:`normalise_answer`) was graded correct. Settings keep their
    first-seen order.
    """
    require_columns(samples, ["qid", "setting", "sample", "thinking_tokens", "finish", "extracted", "correct"], where)
    rows = []
    for setting, group in samples.groupby("setting", sort=False, dropna=False):
        per_q = [ok for _, ok in _per_question(group)]
        tokens = pd.to_numeric(group["thinking_tokens"], errors="coerce")
        rows.append({
            "setting": setting,
            "budget": _first_value(group["budget"]) if "budget" in group else None,
            "num_wait": _first_value(group["num_wait"]) if "num_wait" in group else None,
            "n_questions": len(per_q),
            "n_samples": len(group),
            "accuracy": float(sum(per_q) / len(per_q)) if per_q else float("nan"),
            "mean_thinking_tokens": float(tokens.mean()) if tokens.notna().any() else float("nan"),
            "cap_share": float((group["finish"] == "cap").mean()),
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
