"""Budget forcing: one controller that drives every generation backend.

Generation is split into a thinking phase and an answer phase (S1_REFERENCE section 5,
following s1's released lm-eval code):

- The prompt is the chat template with the generation prompt, then the thinking start
  (``<|im_start|>think``).
- Thinking stops at the stop token (``<|im_start|>``) or at the cap ``B``. If the cap
  ended it, (a newline unless the text already ends with one, then) the forced end
  ``<|im_start|>answer\\nFinal Answer:`` is appended; otherwise ``<|im_start|>answer``.
- Extending: each of the first ``k`` end attempts is replaced by the ignore string
  ("Wait") and thinking continues, at least one new token per continuation. The
  thinking (generated plus inserted tokens) stays capped at ``B`` in total; the
  remaining budget is tracked and never negative, and a thinking that reaches the cap
  always gets the forced answer phase. (s1's harness gave every continuation the full
  cap and truncated afterwards, which could leave a cut thinking without a final answer.)
- Minimum: the stop token is suppressed until ``min_thinking`` thinking tokens exist.
- The answer phase generates up to ``answer_max_tokens`` and stops at ``<|im_end|>``.
- End of text: as in s1's harness, the thinking also ends at the model's end-of-sequence ids
  (the tokenizer's EOS, ``<|im_end|>`` for Qwen instruct models, and the ids an engine reports
  from the model's generation config, e.g. ``<|endoftext|>``), and so does the answer phase.
  An EOS inside the thinking is an end attempt like the thinking stop.

``compat="s1"`` reproduces s1's harness (``vllm_causallms._model_generate``; S1_REFERENCE 9.4)
where s1flow deliberately differs: with Waits, every segment asks for the full cap ``B`` with
``min_tokens = 1`` (overriding ``min_thinking``) and the joined thinking is cut to ``B``
afterwards; the finish kept is the last segment's, and the newline test before the forced
end reads the uncut text. Rejection sampling accepts at most ``B`` generated tokens counting
the stop token. A step-conditional setting with budget forcing ends its thinking at
``<|im_start|>0`` (the "0 steps left" marker) instead of at the answer section, and countdown
markers are not looked past otherwise (s1's harness stops at the first thinking stop).

Open settings (:class:`~s1flow.generate.setting.Open`, named ``open:cap=B``) are the baseline a model without
budget forcing gets, as the paper's base-model rows (Qwen2.5-32B-Instruct) are produced: the
prompt ends at the chat template's generation prompt, no thinking section is opened for the
model, nothing is inserted or forced, and the response runs to ``<|im_end|>`` or to the same
total budget a forced sample has (``B + answer_max_tokens``). Everything before an answer
section the model opens itself counts as thinking (all of an instruct model's response, which
is its chain of thought); that answer section, if any, is the answer.

Conditional settings (:class:`~s1flow.generate.setting.Conditional`, :mod:`s1flow.conditional`) add a sentence
to the question: "Think for up to N tokens." (``tok=N``), "... N steps." (``steps=N``) or a
class prompt (``class=long``). Named without a cap, they run alone (the cap is only a safety
limit); ``tok=N,cap=B`` / ``steps=N,cap=B`` add budget forcing. The token- and step-conditional
models write countdown markers that open with the thinking stop token; their thinking phase
looks one token past each stop and goes on unless the answer section follows.

How settings run over many questions (shared thinking prefixes, rejection sampling) is in
:mod:`s1flow.generate.runners`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from s1flow.engines.base import Engine, GenerationRequest, check_prompt_ids
from s1flow.errors import ConfigError
from s1flow.generate.setting import Setting

log = logging.getLogger(__name__)

Finish = Literal["stop", "cap"]
#: Budget-forcing semantics: s1flow's (the cap counts every continuation) or s1's harness exactly.
COMPAT_MODES = ("s1flow", "s1")


@dataclass(frozen=True)
class Delimiters:
    """Strings that delimit thinking and answer (Qwen / s1 defaults)."""

    think_start: str = "<|im_start|>think"
    think_stop: str = "<|im_start|>"
    answer_start: str = "<|im_start|>answer"
    forced_end: str = "<|im_start|>answer\nFinal Answer:"
    answer_stop: str = "<|im_end|>"


@dataclass(frozen=True)
class Sampling:
    """Decoding for every phase: greedy (temperature 0) by default; ``samples`` per question."""

    temperature: float = 0.0
    samples: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError(f"samples must be >= 1, got {self.samples}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")


@dataclass
class Item:
    """One question to answer: its id, its prompt ids (ending with the thinking start) and its text
    (needed by conditional settings, whose prompt adds a sentence to it)."""

    qid: str
    prompt: list[int]
    question: str | None = None


@dataclass
class Thinking:
    """A thinking trajectory: its tokens (generated + inserted), end attempts and how it ended."""

    tokens: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)  # thinking length at each end attempt
    finish: Finish = "stop"
    generated: int = 0  # tokens the model generated (without inserted ignore strings)
    # compat "s1" with Waits: (start, length, engine finish) of every segment; `tokens` is then uncut
    segments: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass
class SampleResult:
    """One row of samples.parquet before grading."""

    qid: str
    setting: str
    budget: int
    num_wait: int
    sample: int
    columns: dict  # the setting's typed columns (s1flow.generate.setting.SETTING_COLUMNS)
    thinking: str
    answer: str
    thinking_tokens: int
    finish: Finish
    thinking_ids: list[int] = field(repr=False, default_factory=list)
    answer_ids: list[int] = field(repr=False, default_factory=list)
    output: str = field(repr=False, default="")  # the whole output as s1 forms it: what grading splits


def request_seed(seed: int, qid: str, sample: int, attempt: int = 0) -> int:
    """A 63-bit per-request seed from the config seed, the question id and the sample index."""
    digest = hashlib.sha256(f"{seed}\x1f{qid}\x1f{sample}\x1f{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class BudgetForcer:
    """Budget forcing over an :class:`~s1flow.engines.base.Engine` and its tokenizer."""

    def __init__(self, engine: Engine, tokenizer, *, delimiters: Delimiters | None = None,
                 answer_max_tokens: int = 512, max_gen_toks: int | None = None, compat: str = "s1flow") -> None:
        if compat not in COMPAT_MODES:
            raise ConfigError(f"generation.compat: {compat!r} is not one of {list(COMPAT_MODES)}")
        self.compat = compat
        self.engine = engine
        self.tokenizer = tokenizer
        self.delimiters = d = delimiters or Delimiters()
        self.answer_max_tokens = answer_max_tokens
        self.max_gen_toks = max_gen_toks
        self.think_start_ids = self._encode(d.think_start)
        self.answer_start_ids = self._encode(d.answer_start)
        self.forced_end_ids = self._encode(d.forced_end)
        self.newline_ids = self._encode("\n")
        self.think_stop_id = self._single_token(d.think_stop, "think_stop")
        self.eos_ids = self._eos_ids(engine, tokenizer)
        # thinking ends at the thinking stop or an EOS; the answer at the answer stop or an EOS (s1's stops)
        self.think_stop_ids = _unique((self.think_stop_id, *self.eos_ids))
        self.answer_stop_ids = _unique((self._single_token(d.answer_stop, "answer_stop"), *self.eos_ids))
        for name, ids in (("think_start", self.think_start_ids), ("answer_start", self.answer_start_ids),
                          ("forced_end", self.forced_end_ids)):
            check_prompt_ids(ids, engine.max_token_id, where=f"delimiter {name}")
        self._ignore_cache: dict[str, list[int]] = {}
        # the token after the thinking stop that opens the answer section (marker-aware thinking)
        self.answer_after_stop = (self.answer_start_ids[1] if len(self.answer_start_ids) > 1
                                  and self.answer_start_ids[0] == self.think_stop_id else None)

    @staticmethod
    def _eos_ids(engine: Engine, tokenizer) -> tuple[int, ...]:
        """The tokenizer's EOS id and the ids the engine reports from the model's generation config."""
        ids = [getattr(tokenizer, "eos_token_id", None), *getattr(engine, "eos_token_ids", ())]
        return _unique(tuple(int(t) for t in ids if isinstance(t, int) and 0 <= t <= engine.max_token_id))

    def step_end_id(self) -> int:
        """The token after the thinking stop that s1's step-conditional forcing stops at (``<|im_start|>0``)."""
        ids = self._encode(self.delimiters.think_stop + "0")
        if len(ids) != 2 or ids[0] != self.think_stop_id:
            raise ConfigError(f"compat 's1' step-conditional forcing stops at {self.delimiters.think_stop + '0'!r}, "
                              f"which must be the thinking stop plus one token (it encodes to {ids})")
        return ids[1]

    # -- tokenizer helpers -------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the model's tokenizer (no special tokens added)."""
        return len(self._encode(text))

    def _single_token(self, text: str, what: str) -> int:
        ids = self._encode(text)
        if len(ids) != 1:
            raise ConfigError(f"generation delimiter '{what}' = {text!r} must be a single token of the model's "
                              f"tokenizer (it encodes to {len(ids)} tokens)")
        return ids[0]

    def ignore_ids(self, text: str) -> list[int]:
        """Token ids of an ignore string such as "Wait"."""
        if text not in self._ignore_cache:
            ids = self._encode(text)
            if not ids:
                raise ConfigError(f"ignore string {text!r} encodes to no tokens")
            self._ignore_cache[text] = ids
        return self._ignore_cache[text]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def prompt_ids(self, user_text: str, *, system: str | None = None) -> list[int]:
        """Chat template with the generation prompt, followed by the thinking start."""
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user_text}]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            text += "<|im_start|>assistant\n"
        return self._encode(text) + self.think_start_ids

    def conditioned(self, items: Sequence[Item], setting: Setting) -> list[Item]:
        """The items as `setting` asks them: the question followed by its condition's sentence."""
        if not setting.suffix:
            return list(items)
        missing = [i.qid for i in items if i.question is None]
        if missing:
            raise ValueError(f"setting {setting.name}: questions {missing[:3]} have no text to add the condition to")
        return [Item(i.qid, self.prompt_ids(i.question + setting.suffix), i.question) for i in items]

    def open_prompt(self, item: Item) -> list[int]:
        """An item's prompt without the thinking start: the chat template's generation prompt alone."""
        n = len(self.think_start_ids)
        if list(item.prompt[-n:]) != self.think_start_ids:
            raise ValueError(f"question {item.qid}: its prompt does not end with the thinking start")
        return list(item.prompt[:-n])

    def resolve_cap(self, cap: int | str, items: Sequence[Item]) -> int:
        """An integer cap; ``auto`` = max_gen_toks - longest prompt - forced end - 100 (s1's rule).

        Prompts here already end with the thinking start, which s1 subtracts separately.
        """
        if cap != "auto":
            return int(cap)
        if self.max_gen_toks is None:
            raise ConfigError("cap 'auto' needs max_gen_toks (the model's total generation budget)")
        longest = max((len(i.prompt) for i in items), default=0)
        value = self.max_gen_toks - longest - len(self.forced_end_ids) - 100
        if value < 1:
            raise ConfigError(f"cap 'auto' resolves to {value} tokens: max_gen_toks {self.max_gen_toks} is too small "
                              f"for prompts of {longest} tokens")
        return value

    # -- thinking phase ----------------------------------------------------------------
    def end_token(self, setting: Setting) -> int | None:
        """The token that must follow a thinking stop for the stop to end `setting`'s thinking; None when
        every stop ends it. s1flow: the answer section's token for models that write countdown markers.
        compat s1: ``0`` (of ``<|im_start|>0``) for step-conditional budget forcing, else None."""
        if self.compat == "s1":
            return self.step_end_id() if setting.condition == "steps" and setting.forced else None
        if not setting.markers:
            return None
        if self.answer_after_stop is None:
            raise ConfigError("countdown markers need an answer start of the thinking stop token plus more tokens "
                              f"(answer_start {self.delimiters.answer_start!r})")
        return self.answer_after_stop

    def think(self, items: Sequence[Item], seeds: Sequence[int], *, cap: int, num_wait: int, min_thinking: int = 0,
              ignore_str: str = "Wait", temperature: float = 0.0, end_token: int | None = None) -> list[Thinking]:
        """Run the thinking phase of every item under one (cap, Wait count, minimum).

        The thinking stops at the thinking stop or an EOS id. With `end_token`, a thinking stop is
        an end attempt only when that token follows it (one token is looked at, same seed and
        position); otherwise the stop token opened a countdown marker and stays. In compat s1
        with Waits the segments run as s1's harness runs them (:meth:`_think_segments`).
        """
        if cap < 1:
            raise ConfigError(f"thinking cap must be >= 1, got {cap}")
        if self.compat == "s1" and num_wait:
            if end_token is not None:
                raise ConfigError("compat 's1' runs no Waits on a setting with a thinking end token")
            return self._think_segments(items, seeds, cap=cap, num_wait=num_wait, ignore_str=ignore_str,
                                        temperature=temperature)
        ignore = self.ignore_ids(ignore_str) if num_wait else []
        states = [Thinking() for _ in items]
        waits = [0] * len(items)
        active = list(range(len(items)))
        rounds = 0
        while active:
            rounds += 1
            requests = []
            for i in active:
                st = states[i]
                first = not st.attempts
                min_new = max(min_thinking - len(st.tokens), 0 if first else 1)
                remaining = cap - len(st.tokens)  # >= 1 for every active item
                requests.append(GenerationRequest(
                    prompt=items[i].prompt + st.tokens, max_tokens=remaining, stop_token_ids=self.think_stop_ids,
                    min_tokens=min(min_new, remaining), temperature=temperature, seed=seeds[i]))
            outputs = self.engine.generate(requests)
            opened = self._opened_markers(items, states, active, outputs, seeds, cap, temperature, end_token) \
                if end_token is not None else set()
            still = []
            for i, out in zip(active, outputs, strict=True):
                st = states[i]
                st.tokens.extend(out.tokens)
                st.generated += len(out.tokens)
                if out.finish == "length" or len(st.tokens) >= cap:
                    del st.tokens[cap:]
                    st.finish = "cap"
                    continue
                if i in opened:  # the stop token opened a marker: it is thinking, go on
                    st.tokens.append(self.think_stop_id)
                    st.generated += 1
                    if len(st.tokens) >= cap:
                        st.finish = "cap"
                        continue
                    still.append(i)
                    continue
                st.attempts.append(len(st.tokens))
                if waits[i] < num_wait:
                    waits[i] += 1
                    st.tokens.extend(ignore)
                    if len(st.tokens) >= cap:
                        del st.tokens[cap:]
                        st.finish = "cap"
                        continue
                    still.append(i)
                else:
                    st.finish = "stop"
            log.info("thinking round %d: %d of %d items continue", rounds, len(still), len(items))
            active = still
        return states

    def _think_segments(self, items: Sequence[Item], seeds: Sequence[int], *, cap: int, num_wait: int,
                        ignore_str: str, temperature: float) -> list[Thinking]:
        """s1's harness with Waits: up to ``num_wait + 1`` segments, each asked for the full `cap` with
        ``min_tokens = 1``; a segment that stops (before the last) gets the ignore string appended, one
        that runs to `cap` is final. The tokens come back uncut (see :func:`derive_s1`)."""
        ignore = self.ignore_ids(ignore_str)
        states = [Thinking() for _ in items]
        active = list(range(len(items)))
        for segment in range(num_wait + 1):
            requests = [GenerationRequest(prompt=items[i].prompt + states[i].tokens, max_tokens=cap,
                                          stop_token_ids=self.think_stop_ids, min_tokens=min(1, cap),
                                          temperature=temperature, seed=seeds[i]) for i in active]
            outputs = self.engine.generate(requests)
            still = []
            for i, out in zip(active, outputs, strict=True):
                st = states[i]
                st.segments.append((len(st.tokens), len(out.tokens), out.finish))
                st.tokens.extend(out.tokens)
                st.generated += len(out.tokens)
                if out.finish == "length" or segment == num_wait:
                    st.finish = "cap" if out.finish == "length" else "stop"
                    if out.finish != "length":
                        st.attempts.append(len(st.tokens))
                    continue
                st.attempts.append(len(st.tokens))
                st.tokens.extend(ignore)
                still.append(i)
            log.info("thinking segment %d: %d of %d items continue", segment + 1, len(still), len(items))
            active = still
            if not active:
                break
        return states

    def _opened_markers(self, items: Sequence[Item], states: list[Thinking], active: list[int], outputs, seeds,
                        cap: int, temperature: float, end_token: int) -> set[int]:
        """Which of the items that stopped at the thinking stop below the cap did not end their thinking:
        the token after the stop token is not `end_token` (a one-token look-ahead, same seed and position)."""
        look, who = [], []
        for i, out in zip(active, outputs, strict=True):
            if out.finish == "stop" and out.stop_token in (None, self.think_stop_id) \
                    and len(states[i].tokens) + len(out.tokens) < cap:
                look.append(GenerationRequest(prompt=items[i].prompt + states[i].tokens + list(out.tokens)
                                              + [self.think_stop_id], max_tokens=1, temperature=temperature,
                                              seed=seeds[i]))
                who.append(i)
        if not look:
            return set()
        nexts = self.engine.generate(look)
        return {i for i, nxt in zip(who, nexts, strict=True) if nxt.tokens and nxt.tokens[0] != end_token}

    # -- open responses ----------------------------------------------------------------
    def respond(self, items: Sequence[Item], seeds: Sequence[int], *, max_tokens: int, temperature: float = 0.0
                ) -> list[tuple[list[int], Finish]]:
        """Each item's own response from the generation prompt: (tokens, finish), up to `max_tokens`."""
        requests = [GenerationRequest(prompt=self.open_prompt(item), max_tokens=max_tokens,
                                      stop_token_ids=self.answer_stop_ids, temperature=temperature, seed=seed)
                    for item, seed in zip(items, seeds, strict=True)]
        outputs = self.engine.generate(requests)
        return [(list(out.tokens), "cap" if out.finish == "length" else "stop") for out in outputs]

    def split_response(self, tokens: Sequence[int]) -> tuple[list[int], list[int]]:
        """An open response -> (thinking, answer): the answer is what follows an answer section the model
        opened itself (nothing if it opened none); a thinking start the model wrote first is dropped."""
        body = list(tokens)
        n = len(self.think_start_ids)
        if body[:n] == self.think_start_ids:
            body = body[n:]
        k = find_sequence(body, self.answer_start_ids)
        if k is None:
            return body, []
        return body[:k], body[k + len(self.answer_start_ids):]

    # -- answer phase ----------------------------------------------------------------
    def answer_suffix(self, thinking: Sequence[int], finish: Finish, tail: Sequence[int] | None = None) -> list[int]:
        """What follows the thinking: the answer start, or (newline +) the forced end after a cap.

        The newline test reads `tail` when given (compat s1: the uncut thinking), else `thinking`."""
        if finish == "stop":
            return list(self.answer_start_ids)
        test = thinking if tail is None else tail
        ends_with_newline = self.decode(test[-4:]).endswith("\n") if test else False
        return (list(self.forced_end_ids) if ends_with_newline
                else list(self.newline_ids) + list(self.forced_end_ids))

    def answer(self, jobs: Sequence[tuple], *, temperature: float = 0.0) -> list[tuple[str, list[int]]]:
        """Answer phase for (item, thinking ids, finish, seed[, suffix]) jobs -> (answer text, answer ids).

        Without a suffix, :meth:`answer_suffix` of the thinking and finish is appended."""
        requests, suffixes = [], []
        for item, thinking, finish, seed, *given in jobs:
            suffix = list(given[0]) if given else self.answer_suffix(thinking, finish)
            suffixes.append(suffix)
            requests.append(GenerationRequest(
                prompt=item.prompt + list(thinking) + suffix, max_tokens=self.answer_max_tokens,
                stop_token_ids=self.answer_stop_ids, temperature=temperature, seed=seed))
        outputs = self.engine.generate(requests)
        results = []
        for suffix, out in zip(suffixes, outputs, strict=True):
            # the answer text starts after the answer start, so a forced "Final Answer:" stays visible
            shown = suffix[suffix_answer_offset(suffix, self.answer_start_ids):]
            results.append((self.decode(shown + out.tokens), list(out.tokens)))
        return results


def _unique(ids: Sequence[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))


def find_sequence(tokens: Sequence[int], pattern: Sequence[int], *, last: bool = False) -> int | None:
    """Index of the first (with `last`, the last) occurrence of `pattern` in `tokens`, else None."""
    n, pattern = len(pattern), list(pattern)
    starts = range(len(tokens) - n, -1, -1) if last else range(len(tokens) - n + 1)
    for k in starts:
        if list(tokens[k:k + n]) == pattern:
            return k
    return None


def cut_response(tokens: Sequence[int], finish: Finish, max_tokens: int) -> tuple[list[int], Finish]:
    """The open response under a smaller limit, from one generated with a larger limit."""
    if finish == "stop" and len(tokens) <= max_tokens:
        return list(tokens), "stop"
    return list(tokens[:max_tokens]), "cap"


def suffix_answer_offset(suffix: Sequence[int], answer_start: Sequence[int]) -> int:
    """Index in ``suffix`` just after its last answer-start tokens (0 if they are not found)."""
    k = find_sequence(suffix, answer_start, last=True)
    return 0 if k is None else k + len(answer_start)


def derive(thinking: Thinking, cap: int, num_wait: int) -> tuple[list[int], Finish]:
    """The thinking of setting (cap, num_wait) from a trajectory run with a larger cap and Wait count."""
    if num_wait < len(thinking.attempts) and thinking.attempts[num_wait] < cap:
        return thinking.tokens[:thinking.attempts[num_wait]], "stop"
    if len(thinking.tokens) < cap and thinking.finish == "stop":
        raise ValueError("trajectory too short for the requested setting (was it run with fewer Waits?)")
    return thinking.tokens[:cap], "cap"


def derive_s1(thinking: Thinking, cap: int, num_wait: int, ignore_len: int) -> tuple[list[int], Finish, list[int]]:
    """compat s1: (thinking cut at `cap`, finish, uncut thinking) of setting (cap, num_wait), from a segmented
    trajectory (:meth:`BudgetForcer._think_segments`) run with a cap and Wait count at least as large.

    A segment that reached `cap` tokens (in the larger run: at least `cap`) is the last one and ends by
    length; one that stopped below it is followed by the ignore string, or is the last one after
    `num_wait` Waits. The finish is the last segment's, whatever the cut removes.
    """
    for k, (start, n, _) in enumerate(thinking.segments):
        if n >= cap:
            end, finish = start + cap, "cap"
            break
        end = start + n
        if k == num_wait:
            finish = "stop"
            break
        if k + 1 == len(thinking.segments):
            raise ValueError("trajectory too short for the requested setting (was it run with fewer Waits?)")
        end += ignore_len
    else:
        raise ValueError("a segmented trajectory is needed (compat s1 with Waits)")
    uncut = thinking.tokens[:end]
    return uncut[:cap], finish, uncut
