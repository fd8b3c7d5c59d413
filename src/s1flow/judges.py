"""s1's LLM-judge prompts and the parsers of their replies.

Three uses of an LLM in s1's data curation (paper §2, Appendix C):

- **grading** an attempt against the reference solution (Figure 8), for the quality and
  difficulty filters; the judge ends its reply with a line ``Yes`` or ``No``;
- **domain classification** of each question into a Mathematics Subject Classification
  (MSC) domain from s1's rubric (``data/msc.json``); the judge ends with the two-digit code;
- **teacher traces**: the question alone as the user turn to a reasoning model (s1 used
  Gemini Flash Thinking); the trace comes from a separate reasoning field or a leading
  ``<think>…</think>`` block.

The system prompts and the user turns are the text s1 sends (``data/grading.txt`` and
``data/featurization.py``). Replies are read in one of :data:`REPLY_PARSING`: ``s1`` as
featurization.py checks them (the last line is exactly ``Yes`` or ``No``; the last two
characters are the code), ``lenient`` also past markdown and punctuation around the answer
(``**Yes**``, ``No.``, ``(11)``). Everything here is pure: no network, no I/O beyond reading
the rubric file. Texts are inserted by concatenation, never ``str.format``, since
questions are full of braces.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from s1flow.errors import InputFileError

if TYPE_CHECKING:
    from s1flow.engines.http import ChatReply

# data/grading.txt of s1, byte for byte (its line breaks, a space before the third of them,
# no final newline); the user turn's layout differs from the "# Problem" example in it.
GRADING_PROMPT = (
    "You are an AI assistant for grading a science problem.\n"
    "The user will provide you with the question itself, an attempt made by a student and the correct answer "
    "to the problem.\n"
    "Your job is to judge whether the attempt is correct by comparing it with the correct answer. \n"
    "If the expected solution concludes with a number or choice, there should be no ambiguity.\n"
    "If the expected solution involves going through the entire reasoning process, you should judge the attempt "
    "based on whether the reasoning process is correct with correct answer if helpful.\n\n"
    "The user will provide the attempt and the correct answer in the following format:\n\n"
    "# Problem\n{problem}\n\n## Attempt\n{attempt}\n\n## Correct answer\n{solution}\n\n"
    'Explain your reasoning, and end your response on a new line with only "Yes" or "No" (without quotes).'
)

DOMAIN_PROMPT = (
    "You are a helpful assistant that classifies questions into different subjects based on the provided "
    "classification rubrics. "
    "You will be given a question and a list of subjects. "
    "You need to classify the question into one of the subjects. "
    "If the question has multiple subjects, you should classify the question into the most relevant subject. "
    "Explain your reasoning, and end your response on a new line with two-digit code of the subject that the "
    "question belongs to."
)

REPLY_PARSING = ("s1", "lenient")

_CODE = re.compile(r"^\d{2}$")
_S1_CODE = re.compile(r"[0-9]{2}")
# Markdown and punctuation that may wrap a final verdict: **Yes**, `No`, "Yes.", > No, (11)
_WRAPPING = " \t\r\n*_`#>~\"'.,;:!?()[]{}"


def _require_text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _check_parsing(parsing: str) -> None:
    if parsing not in REPLY_PARSING:
        raise ValueError(f"unknown reply parsing {parsing!r}; expected one of {list(REPLY_PARSING)}")


def _last_line(reply: str) -> str:
    for line in reversed(reply.splitlines()):
        if line.strip():
            return line
    return ""


# -- grading -------------------------------------------------------------------------


def grading_messages(problem: str, attempt: str, solution: str) -> list[dict]:
    """Chat messages asking the judge whether `attempt` solves `problem` given the reference `solution`.

    System: s1's grading prompt; user: ``## Problem``, ``## Attempt``, ``## Correct answer``
    blocks, as s1 sends them.
    """
    problem = _require_text(problem, "problem")
    attempt = _require_text(attempt, "attempt")
    solution = _require_text(solution, "solution")
    user = "## Problem\n" + problem + "\n\n## Attempt\n" + attempt + "\n\n## Correct answer\n" + solution
    return [{"role": "system", "content": GRADING_PROMPT}, {"role": "user", "content": user}]


def parse_yes_no(reply: str | None, parsing: str = "lenient") -> bool | None:
    """True for a final line ``Yes``, False for ``No``; None when the reply ends in neither.

    ``s1``: the text after the last newline is exactly ``Yes`` or ``No``. ``lenient``: the
    last non-empty line, any case, markdown and punctuation around it ignored.
    """
    _check_parsing(parsing)
    if not isinstance(reply, str):
        return None
    if parsing == "s1":
        return {"Yes": True, "No": False}.get(reply.split("\n")[-1])
    verdict = _last_line(reply).strip(_WRAPPING).lower()
    return {"yes": True, "no": False}.get(verdict)


# -- domain classification -------------------------------------------------------------


@dataclass(frozen=True)
class Rubric:
    """One MSC domain: two-digit ``code``, ``title``, sub-area ``descriptions`` and its prompt block."""

    code: str
    title: str
    descriptions: tuple[str, ...]
    prompt: str


def load_rubric(path: str | os.PathLike) -> list[Rubric]:
    """Read and validate a domain rubric (s1's ``msc.json``): a JSON list of rubric objects."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: rubric file not found")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the rubric: {exc}") from exc
    return parse_rubric(raw, str(path))


def parse_rubric(raw: str | bytes, source: str) -> list[Rubric]:
    """Validate the text of a domain rubric; errors name `source` (a file or URL) and the entry."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{source}: cannot read the rubric as JSON: {exc}") from exc
    if not isinstance(data, list) or not data:
        raise InputFileError(f"{source}: the rubric must be a non-empty JSON list of objects with "
                             f"code, title, descriptions, prompt")
    rubric: list[Rubric] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(data):
        where = f"{source}: entry {i}"
        if not isinstance(entry, dict):
            raise InputFileError(f"{where} is a {type(entry).__name__}, expected an object")
        missing = [k for k in ("code", "title", "descriptions", "prompt") if k not in entry]
        if missing:
            raise InputFileError(f"{where} (code {entry.get('code')!r}) lacks key(s) {missing}")
        code, title, descriptions, prompt = entry["code"], entry["title"], entry["descriptions"], entry["prompt"]
        if not isinstance(code, str) or not _CODE.match(code):
            raise InputFileError(f"{where}: 'code' must be a two-digit string such as \"05\", got {code!r}")
        where = f"{source}: entry {i} (code {code})"
        if code in seen:
            raise InputFileError(f"{where}: duplicate code, also used by entry {seen[code]}")
        seen[code] = i
        if not isinstance(title, str) or not title.strip():
            raise InputFileError(f"{where}: 'title' must be a non-empty string, got {title!r}")
        if not isinstance(descriptions, list) or not all(isinstance(d, str) for d in descriptions):
            raise InputFileError(f"{where}: 'descriptions' must be a list of strings")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputFileError(f"{where}: 'prompt' must be a non-empty string")
        rubric.append(Rubric(code=code, title=title.strip(), descriptions=tuple(d.strip() for d in descriptions),
                             prompt=prompt))
    return rubric


def rubric_prompt(rubric: Iterable[Rubric]) -> str:
    """The rubric listing sent to the judge: every entry's prompt block, blank-line separated (as s1 does)."""
    return "\n\n".join(r.prompt for r in rubric)


def domain_messages(question: str, rubric: Iterable[Rubric]) -> list[dict]:
    """Chat messages asking the judge for the MSC domain of `question` (system: s1's instructions)."""
    question = _require_text(question, "question")
    listing = rubric_prompt(rubric)
    if not listing:
        raise ValueError("the rubric is empty")
    user = "## Question\n" + question + "\n\n## Classification rubrics\n" + listing
    return [{"role": "system", "content": DOMAIN_PROMPT}, {"role": "user", "content": user}]


def parse_domain_code(reply: str | None, codes: Iterable[str | Rubric], parsing: str = "lenient") -> str | None:
    """The two-digit code that ends `reply` if it is one of `codes`; else None.

    ``s1``: the reply's last two characters are digits (so ``Code: 11`` and ``2011`` give
    ``11``). ``lenient``: the last non-empty line ends in a code standing alone, markdown
    and punctuation around it ignored (``**11**``, ``(11).``, not ``2011`` or ``3.11``).
    A code outside `codes` is no answer (s1 kept it, then found no title for it).
    """
    _check_parsing(parsing)
    if not isinstance(reply, str):
        return None
    known = {c.code if isinstance(c, Rubric) else c for c in codes}
    if parsing == "s1":
        tail = reply[-2:]
        return tail if _S1_CODE.fullmatch(tail) and tail in known else None
    m = re.search(r"(?<![\d.])(\d{2})$", _last_line(reply).strip(_WRAPPING))
    if m is None or m.group(1) not in known:
        return None
    return m.group(1)


# -- teacher traces --------------------------------------------------------------------


def teacher_messages(question: str) -> list[dict]:
    """The question alone as the user turn (s1 prompted its teacher with the bare question)."""
    return [{"role": "user", "content": _require_text(question, "question")}]


_THINK = re.compile(r"^\s*(?:<think>)?(.*?)</think>(.*)$", re.DOTALL)


def split_teacher_reply(reply: ChatReply) -> tuple[str | None, str]:
    """(trace, attempt) of a teacher reply.

    The trace is the separate ``reasoning`` field when the server returned one, else a
    leading ``<think>…</think>`` block of the text (the opening tag may be missing, as
    when the chat template already opened it), else None with the whole text as attempt.
    """
    text = reply.text or ""
    if reply.reasoning and reply.reasoning.strip():
        return reply.reasoning.strip(), text.strip()
    m = _THINK.match(text)
    if m is not None:
        return m.group(1).strip(), m.group(2).strip()
    return None, text.strip()
