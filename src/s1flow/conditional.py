"""Conditional length control, the baselines budget forcing is compared with (S1_REFERENCE sections 5-6).

- **Token-conditional**: the prompt ends with "Think for up to N tokens."; the model is
  fine-tuned on traces whose thinking carries a countdown of the tokens left, a marker
  ``<|im_start|>R tokens left`` before every chunk of about `interval` tokens, with N the
  trace's own length.
- **Step-conditional**: the prompt ends with "Think for up to N steps."; the traces are split
  into steps of about `step_tokens` tokens, each opened by ``<|im_start|>K steps left``
  (K counts down to 1), with N the trace's number of steps.
- **Class-conditional**: no retraining; the question is followed by s1's generic prompt
  for a long or a short thinking.

The markers start with the thinking stop token (``<|im_start|>``), so generation with
them needs the marker-aware thinking phase of :class:`s1flow.generate.budget.BudgetForcer`, and
counting steps in a thinking means counting its markers (:func:`count_steps`).
"""

from __future__ import annotations

import re

from s1flow.errors import ConfigError

#: s1's class-conditional prompts (appended to the question after a blank line)
CLASS_PROMPTS = {
    "long": "Answer after a long amount of thinking. If you feel like you are finished early, spend the extra time "
            "trying to double-check your work until you are absolutely sure that you have the correct answer.",
    "short": "Answer after a short amount of thinking. Do not spend excessive time double-checking your work.",
}

#: control kind -> the unit its markers and prompts count
UNITS = {"tokens": "tokens", "steps": "steps"}

MARKER_OPEN = "<|im_start|>"


def budget_prompt(control: str, budget: int) -> str:
    """The sentence a conditional prompt ends with: "Think for up to N tokens." / "... N steps."."""
    if control not in UNITS:
        raise ConfigError(f"length control {control!r}: expected one of {sorted(UNITS)}")
    if budget < 1:
        raise ConfigError(f"length control {control}: the budget must be >= 1, got {budget}")
    return f"Think for up to {budget} {UNITS[control]}."


def prompt_suffix(control: str, value: int | str) -> str:
    """What follows the question for a control: tokens/steps with a budget, or class long/short."""
    if control == "class":
        if value not in CLASS_PROMPTS:
            raise ConfigError(f"class-conditional prompt {value!r}: expected 'long' or 'short'")
        return "\n\n" + CLASS_PROMPTS[str(value)]
    return "\n\n" + budget_prompt(control, int(value))


def marker(left: int, unit: str) -> str:
    """A countdown marker opening a chunk of thinking, e.g. ``<|im_start|>3 steps left\\n``."""
    return f"{MARKER_OPEN}{left} {unit} left\n"


_MARKER_RE = {unit: re.compile(re.escape(MARKER_OPEN) + rf"\d+ {unit} left\n?") for unit in UNITS.values()}


def count_steps(thinking: str) -> int:
    """Steps in a thinking text: the step markers it holds."""
    return len(_MARKER_RE["steps"].findall(thinking))


def strip_markers(thinking: str) -> str:
    """A thinking text without its countdown markers (tokens or steps)."""
    for pattern in _MARKER_RE.values():
        thinking = pattern.sub("", thinking)
    return thinking


def split_chunks(text: str, tokenizer, chunk_tokens: int) -> list[str]:
    """`text` cut into pieces of about `chunk_tokens` tokens, each cut placed before a token that
    starts with white space (so words stay whole); the pieces join back to `text`."""
    if chunk_tokens < 1:
        raise ConfigError(f"chunk size must be >= 1 token, got {chunk_tokens}")
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    cuts, since = [], 0
    for start, _ in offsets:
        if since >= chunk_tokens and 0 < start < len(text) and text[start].isspace():
            cuts.append(start)
            since = 0
        since += 1
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def token_count(text: str, tokenizer) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def annotate_trace(trace: str, tokenizer, control: str, chunk_tokens: int) -> tuple[str, int]:
    """A trace with its countdown markers, and the budget the training prompt states.

    tokens: a marker ``R tokens left`` before each chunk, R = the trace's tokens not yet
    written (the budget is the trace's length); steps: ``K steps left`` before each step,
    K = steps not yet written including this one (the budget is the number of steps).
    """
    trace = trace.strip()
    chunks = split_chunks(trace, tokenizer, chunk_tokens)
    if not chunks:
        raise ConfigError("an empty trace cannot be annotated for length control")
    unit = UNITS.get(control)
    if unit is None:
        raise ConfigError(f"length control {control!r}: expected one of {sorted(UNITS)}")
    if control == "steps":
        n = len(chunks)
        return "".join(marker(n - i, unit) + c for i, c in enumerate(chunks)), n
    sizes = [token_count(c, tokenizer) for c in chunks]
    total, out = sum(sizes), []
    for c, size in zip(chunks, sizes, strict=True):
        out.append(marker(total, unit) + c)
        total -= size
    return "".join(out), sum(sizes)


def conditional_question(question: str, control: str, budget: int) -> str:
    """The training question of a conditional example: the question, a blank line, the budget sentence."""
    return question.rstrip() + prompt_suffix(control, budget)
