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

Open settings (:class:`~s1flow.setting.Open`, named ``open:cap=B``) are the baseline a model without
budget forcing gets, as the paper's base-model rows (Qwen2.5-32B-Instruct) are produced: the
prompt ends at the chat template's generation prompt, no thinking section is opened for the
model, nothing is inserted or forced, and the response runs to ``<|im_end|>`` or to the same
total budget a forced sample has (``B + answer_max_tokens``). Everything before an answer
section the model opens itself counts as thinking (all of an instruct model's response, which
is its chain of thought); that answer section, if any, is the answer.

Conditional settings (:class:`~s1flow.setting.Conditional`, :mod:`s1flow.conditional`) add a sentence
to the question: "Think for up to N tokens." (``tok=N``), "... N steps." (``steps=N``) or a
class prompt (``class=long``). Named without a cap, they run alone (the cap is only a safety
limit); ``tok=N,cap=B`` / ``steps=N,cap=B`` add budget forcing. The token- and step-conditional
models write countdown markers that open with the thinking stop token; their thinking phase
looks one token past each stop and goes on unless the answer section follows.

Shared-prefix sweeps: with greedy decoding or position-keyed seeded sampling, the
thinking of setting (B, k) is a prefix of the thinking of (B_max, K_max) for B <= B_max and
k <= K_max: it is the (B_max, K_max) thinking up to its (k+1)-th end attempt, cut at B.
:func:`run_sweep` generates the thinking once per question to the largest setting and
then one answer phase per distinct thinking; :func:`run_settings_separately` runs each
setting on its own (as s1's harness does), for checking and benchmarking.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from s1flow.conditional import strip_markers
from s1flow.engines.base import Engine, GenerationRequest, check_prompt_ids
from s1flow.errors import ConfigError
from s1flow.setting import Rejection, Setting

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
    columns: dict  # the setting's typed columns (s1flow.setting.SETTING_COLUMNS)
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


def _expand(items: Sequence[Item], sampling: Sampling) -> tuple[list[Item], list[int], list[int]]:
    """One entry per (item, sample) with its request seed."""
    flat, samples, seeds = [], [], []
    for item in items:
        for s in range(sampling.samples):
            flat.append(item)
            samples.append(s)
            seeds.append(request_seed(sampling.seed, item.qid, s))
    return flat, samples, seeds


def _group_key(forcer: BudgetForcer, s: Setting) -> tuple:
    """Settings with equal keys share one thinking trajectory (see :func:`run_sweep`)."""
    if forcer.compat == "s1":
        # s1's harness gives every segment min_tokens 1 once Waits are on, so a run with Waits does not
        # extend one without them; its minimum is then overridden
        waits = s.num_wait > 0
        return (waits, None if waits else s.min_thinking, s.ignore_str if waits else None, s.condition,
                s.condition_value, s.forced)
    return (s.min_thinking, s.ignore_str, s.condition, s.condition_value)


def _thinkings(forcer: BudgetForcer, asked: Sequence[Item], trajectories: Sequence[Thinking], setting: Setting,
               cap: int) -> list[tuple[list[int], Finish, list[int]]]:
    """(thinking, finish, answer suffix) of `setting` at `cap` for each trajectory of its group."""
    out = []
    segmented = forcer.compat == "s1" and setting.num_wait > 0
    ignore_len = len(forcer.ignore_ids(setting.ignore_str)) if segmented else 0
    for traj in trajectories:
        if segmented:
            tokens, finish, uncut = derive_s1(traj, cap, setting.num_wait, ignore_len)
        else:
            (tokens, finish), uncut = derive(traj, cap, setting.num_wait), None
        out.append((tokens, finish, forcer.answer_suffix(tokens, finish, uncut)))
    return out


def run_sweep(forcer: BudgetForcer, items: Sequence[Item], settings: Sequence[Setting],
              sampling: Sampling | None = None) -> list[SampleResult]:
    """Every setting for every item, sharing one thinking run per (item, sample) and settings group.

    Settings that differ only in cap and Wait count share a trajectory (run to the largest
    cap and Wait count); settings with another minimum, ignore string or condition form their
    own group, and in compat s1 so do the settings with Waits and those without. Equal
    thinkings with equal answer suffixes (e.g. every cap above a natural end) share one answer phase.
    """
    sampling = sampling or Sampling()
    _check_unique(settings)
    flat, samples, seeds = _expand(items, sampling)
    caps = {s: forcer.resolve_cap(s.cap, items) for s in settings}
    groups: dict[tuple, list[Setting]] = {}
    for s in settings:
        if not s.open:
            groups.setdefault(_group_key(forcer, s), []).append(s)
    rows: list[SampleResult] = []
    opened = [s for s in settings if s.open]
    if opened:
        # one response per (item, sample) to the largest limit; smaller limits are its prefixes
        limit = {s: caps[s] + forcer.answer_max_tokens for s in opened}
        responses = forcer.respond(flat, seeds, max_tokens=max(limit.values()), temperature=sampling.temperature)
        for s in opened:
            for j, (tokens, finish) in enumerate(responses):
                rows.append(_open_row(forcer, flat[j], s, caps[s], samples[j], *cut_response(tokens, finish, limit[s])))
    for group in groups.values():
        first = group[0]
        big_cap = max(caps[s] for s in group)
        big_wait = max(s.num_wait for s in group)
        asked = forcer.conditioned(flat, first)
        trajectories = forcer.think(asked, seeds, cap=big_cap, num_wait=big_wait, min_thinking=first.min_thinking,
                                    ignore_str=first.ignore_str, temperature=sampling.temperature,
                                    end_token=forcer.end_token(first))
        derived: dict[tuple, int] = {}
        jobs = []
        plan = []
        for s in group:
            for j, (tokens, finish, suffix) in enumerate(_thinkings(forcer, asked, trajectories, s, caps[s])):
                key = (j, len(tokens), finish, tuple(suffix))
                if key not in derived:
                    derived[key] = len(jobs)
                    jobs.append((asked[j], tokens, finish, seeds[j], suffix))
                plan.append((s, j, tokens, finish, derived[key]))
        answers = forcer.answer(jobs, temperature=sampling.temperature)
        log.info("settings group %s: %d settings, %d answer phases for %d rows", first.name, len(group), len(jobs),
                 len(plan))
        for s, j, tokens, finish, a in plan:
            rows.append(_row(forcer, flat[j], s, caps[s], samples[j], tokens, finish, answers[a]))
    return _ordered(rows, items, settings)


def run_settings_separately(forcer: BudgetForcer, items: Sequence[Item], settings: Sequence[Setting],
                            sampling: Sampling | None = None) -> list[SampleResult]:
    """Each setting as its own generation, as s1's harness runs a sweep (the reference for run_sweep)."""
    sampling = sampling or Sampling()
    _check_unique(settings)
    flat, samples, seeds = _expand(items, sampling)
    rows = []
    for s in settings:
        cap = forcer.resolve_cap(s.cap, items)
        if s.open:
            responses = forcer.respond(flat, seeds, max_tokens=cap + forcer.answer_max_tokens,
                                       temperature=sampling.temperature)
            rows += [_open_row(forcer, flat[j], s, cap, samples[j], tokens, finish)
                     for j, (tokens, finish) in enumerate(responses)]
            continue
        asked = forcer.conditioned(flat, s)
        trajectories = forcer.think(asked, seeds, cap=cap, num_wait=s.num_wait, min_thinking=s.min_thinking,
                                    ignore_str=s.ignore_str, temperature=sampling.temperature,
                                    end_token=forcer.end_token(s))
        thinkings = _thinkings(forcer, asked, trajectories, s, cap)
        jobs = [(asked[j], tokens, finish, seeds[j], suffix) for j, (tokens, finish, suffix) in enumerate(thinkings)]
        answers = forcer.answer(jobs, temperature=sampling.temperature)
        for j, (tokens, finish, _) in enumerate(thinkings):
            rows.append(_row(forcer, flat[j], s, cap, samples[j], tokens, finish, answers[j]))
    return _ordered(rows, items, settings)


def rejection_sample(forcer: BudgetForcer, items: Sequence[Item], setting: Rejection, *, max_tries: int = 16,
                     sampling: Sampling | None = None) -> list[SampleResult]:
    """s1's rejection-sampling baseline: resample the thinking until it ends on its own within the cap.

    Each try uses a fresh seed at the sampling temperature (s1: 1.0) and asks for ``B + 1``
    tokens. s1flow accepts a thinking that ended on its own within ``B`` tokens; compat s1
    accepts, as s1's harness, at most ``B`` generated tokens counting the stop token (a thinking
    of at most ``B - 1``). ``max_tries = 0`` retries without a bound, as s1 does; otherwise a
    question whose tries all overran keeps its last try, cut at the cap with the forced end
    (``finish == "cap"``).
    """
    sampling = sampling or Sampling(temperature=1.0)
    if sampling.temperature <= 0:
        raise ConfigError("rejection sampling needs a sampling temperature > 0")
    if max_tries < 0:
        raise ConfigError(f"evaluation.rejection_max_tries must be >= 0 (0: no bound), got {max_tries}")
    flat, samples, _ = _expand(items, sampling)
    b = forcer.resolve_cap(setting.cap, items)
    longest = b - 1 if forcer.compat == "s1" else b  # the longest thinking accepted
    accepted: dict[int, Thinking] = {}
    pending = list(range(len(flat)))
    attempt = 0
    while pending:
        last = max_tries > 0 and attempt == max_tries - 1
        seeds = [request_seed(sampling.seed, flat[j].qid, samples[j], attempt) for j in pending]
        # one token more than the cap, so a thinking of exactly `b` tokens can still end on its own
        tries = forcer.think([flat[j] for j in pending], seeds, cap=b + 1, num_wait=0,
                             temperature=sampling.temperature)
        left = []
        for j, t in zip(pending, tries, strict=True):
            if (t.finish == "stop" and len(t.tokens) <= longest) or last:
                accepted[j] = t
            else:
                left.append(j)
        log.info("rejection sampling try %d: %d of %d still over %d tokens", attempt + 1, len(left), len(flat),
                 longest)
        pending = left
        attempt += 1
    jobs = []
    for j in range(len(flat)):
        t = accepted[j]
        if t.finish == "cap" or len(t.tokens) > longest:
            t.tokens, t.finish = t.tokens[:b], "cap"
        jobs.append((flat[j], t.tokens, t.finish, request_seed(sampling.seed, flat[j].qid, samples[j])))
    answers = forcer.answer(jobs, temperature=sampling.temperature)
    return [_row(forcer, flat[j], setting, b, samples[j], accepted[j].tokens, accepted[j].finish, answers[j])
            for j in range(len(flat))]


def _check_unique(settings: Sequence[Setting]) -> None:
    names = [s.name for s in settings]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"sweep settings must be distinct; repeated: {dupes}")
    if not settings:
        raise ConfigError("a sweep needs at least one setting")


def _row(forcer: BudgetForcer, item: Item, setting: Setting, cap: int, sample: int, tokens: Sequence[int],
         finish: Finish, answer: tuple[str, list[int]], output: str | None = None) -> SampleResult:
    thinking = forcer.decode(tokens)
    count = len(tokens)
    if setting.markers:  # countdown markers are bookkeeping, not thinking: count the text without them
        count = forcer.count_tokens(strip_markers(thinking))
    d = forcer.delimiters
    return SampleResult(qid=item.qid, setting=setting.name, budget=cap, num_wait=setting.num_wait, sample=sample,
                        columns=setting.columns(), thinking=thinking, answer=answer[0], thinking_tokens=count,
                        finish=finish, thinking_ids=list(tokens), answer_ids=answer[1],
                        output=output if output is not None else d.think_start + thinking + d.answer_start + answer[0])


def _open_row(forcer: BudgetForcer, item: Item, setting: Setting, cap: int, sample: int, tokens: Sequence[int],
              finish: Finish) -> SampleResult:
    thinking, answer = forcer.split_response(tokens)
    return _row(forcer, item, setting, cap, sample, thinking, finish, (forcer.decode(answer), answer),
                output=forcer.decode(tokens))


def _ordered(rows: list[SampleResult], items: Sequence[Item], settings: Sequence[Setting]) -> list[SampleResult]:
    """Rows ordered by question, then setting (in the given order), then sample."""
    qpos = {it.qid: k for k, it in enumerate(items)}
    spos = {s.name: k for k, s in enumerate(settings)}
    return sorted(rows, key=lambda r: (qpos[r.qid], spos[r.setting], r.sample))
