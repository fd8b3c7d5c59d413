"""Budget-forcing semantics, token for token, on a scripted engine; shared-prefix sweeps.

The scripted engine is a deterministic stand-in with a known next-token rule, so every
expected thinking and answer can be written down independently of the controller. The
same controller runs on the real transformers backend in test_sweep_hf.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from transformers import AutoTokenizer

from s1flow.engines.base import Generation, GenerationRequest
from s1flow.errors import ConfigError
from s1flow.generate.budget import BudgetForcer, Item, Sampling, cut_response, derive
from s1flow.generate.runners import rejection_sample, run_settings_separately, run_sweep
from s1flow.generate.setting import Conditional, Forced, Open, Rejection, Vote


class ScriptedEngine:
    """Next token = a hash of (seed if sampling, absolute position, previous token).

    Emits the first stop id with probability ~1/stop_every; position-keyed by construction.
    """

    name = "scripted"

    def __init__(self, max_token_id: int, *, stop_every: int = 9, low: int = 10, high: int = 300) -> None:
        self.max_token_id = max_token_id
        self.stop_every = stop_every
        self.low, self.high = low, high
        self.requests: list[GenerationRequest] = []

    def next_token(self, req: GenerationRequest, seq: Sequence[int], produced: int) -> int:
        key = f"{req.seed if req.temperature > 0 else 'greedy'}|{len(seq)}|{seq[-1] if seq else -1}"
        h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
        if req.stop_token_ids and h % self.stop_every == 0 and produced >= req.min_tokens:
            return req.stop_token_ids[0]
        return self.low + (h // self.stop_every) % (self.high - self.low)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out = []
        for req in requests:
            self.requests.append(req)
            seq = list(req.prompt)
            toks: list[int] = []
            while len(toks) < req.max_tokens:
                t = self.next_token(req, seq, len(toks))
                if t in req.stop_token_ids:
                    out.append(Generation(toks, "stop", t))
                    break
                toks.append(t)
                seq.append(t)
            else:
                out.append(Generation(toks, "length", None))
        return out


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture
def engine(tokenizer):
    return ScriptedEngine(len(tokenizer) - 1)


@pytest.fixture
def forcer(engine, tokenizer):
    return BudgetForcer(engine, tokenizer, answer_max_tokens=20, max_gen_toks=400)


def items_for(forcer: BudgetForcer, n: int = 6) -> list[Item]:
    return [Item(f"q{i}", forcer.prompt_ids(f"What is {i} + {i * 7}?")) for i in range(n)]


def free_run(engine: ScriptedEngine, forcer: BudgetForcer, prompt: list[int], n: int, *, seed: int | None = None,
             temperature: float = 0.0, stop: tuple[int, ...] = ()) -> list[int]:
    """Reference: the engine's own tokens with no budget forcing."""
    req = GenerationRequest(prompt=prompt, max_tokens=n, stop_token_ids=stop, temperature=temperature, seed=seed)
    return ScriptedEngine(engine.max_token_id, stop_every=engine.stop_every).generate([req])[0].tokens


def test_prompt_is_chat_template_then_thinking_start(forcer, tokenizer):
    ids = forcer.prompt_ids("hello")
    text = tokenizer.decode(ids)
    assert text == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n<|im_start|>think"


def test_cap_cuts_thinking_and_forces_final_answer(forcer, engine):
    # stop_every huge: the model never ends thinking on its own
    engine.stop_every = 10**9
    item = items_for(forcer, 1)[0]
    th = forcer.think([item], [0], cap=50, num_wait=0)[0]
    assert th.finish == "cap" and len(th.tokens) == 50
    assert th.tokens == free_run(engine, forcer, item.prompt, 50)
    suffix = forcer.answer_suffix(th.tokens, "cap")
    ends_nl = forcer.decode(th.tokens).endswith("\n")
    expected = ([] if ends_nl else forcer.newline_ids) + forcer.forced_end_ids
    assert suffix == expected
    assert forcer.decode(forcer.forced_end_ids) == "<|im_start|>answer\nFinal Answer:"
    (text, ids), = forcer.answer([(item, th.tokens, "cap", 0)])
    assert text.startswith("\nFinal Answer:")
    last = engine.requests[-1]
    assert list(last.prompt) == item.prompt + th.tokens + expected
    assert last.max_tokens == 20 and last.stop_token_ids == forcer.answer_stop_ids
    assert len(ids) <= 20


def test_natural_stop_appends_answer_start(forcer, engine):
    engine.stop_every = 5
    item = items_for(forcer, 1)[0]
    th = forcer.think([item], [0], cap=10_000, num_wait=0)[0]
    assert th.finish == "stop"
    reference = free_run(engine, forcer, item.prompt, 10_000, stop=(forcer.think_stop_id,))
    assert th.tokens == reference and th.attempts == [len(reference)]
    assert forcer.think_stop_id not in th.tokens
    assert forcer.answer_suffix(th.tokens, "stop") == forcer.answer_start_ids


def test_waits_replace_end_attempts_with_ignore_string(forcer, engine):
    engine.stop_every = 6
    item = items_for(forcer, 1)[0]
    wait = forcer.ignore_ids("Wait")
    th = forcer.think([item], [0], cap=10_000, num_wait=3)[0]
    assert th.finish == "stop" and len(th.attempts) == 4
    # rebuild the expected thinking segment by segment with the engine's own rule
    expected: list[int] = []
    for k in range(4):
        req = GenerationRequest(prompt=item.prompt + expected, max_tokens=10_000,
                                stop_token_ids=(forcer.think_stop_id,), min_tokens=0 if k == 0 else 1)
        seg = ScriptedEngine(engine.max_token_id, stop_every=6).generate([req])[0]
        assert seg.finish == "stop"
        if k:
            assert len(seg.tokens) >= 1, "a continuation produces at least one token"
        expected += seg.tokens
        assert th.attempts[k] == len(expected)
        if k < 3:
            expected += wait
    assert th.tokens == expected
    assert forcer.decode(th.tokens).count("Wait") >= 3
    # every continuation request asked for >= 1 token and never more than the remaining budget
    for req in engine.requests[1:]:
        assert req.min_tokens >= 1


def test_cap_still_holds_with_waits_and_budget_never_negative(forcer, engine):
    engine.stop_every = 4
    items = items_for(forcer, 8)
    for cap in (1, 2, 3, 7, 23, 40):
        engine.requests.clear()
        for th in forcer.think(items, list(range(8)), cap=cap, num_wait=50):
            assert len(th.tokens) <= cap
            assert th.finish == "cap"  # 50 Waits never run out before the cap
            assert len(th.tokens) == cap
        for req in engine.requests:
            assert 1 <= req.max_tokens <= cap
            assert req.min_tokens <= req.max_tokens


def test_wait_string_overflowing_the_cap_is_cut(forcer, engine, tokenizer):
    engine.stop_every = 3
    item = items_for(forcer, 1)[0]
    long_ignore = "Wait, let me double check that again"
    ign = forcer.ignore_ids(long_ignore)
    free = forcer.think([item], [0], cap=10_000, num_wait=1, ignore_str=long_ignore)[0]
    first_end = free.attempts[0]
    cap = first_end + len(ign) - 1  # the ignore string does not fit entirely
    th = forcer.think([item], [0], cap=cap, num_wait=1, ignore_str=long_ignore)[0]
    assert th.finish == "cap" and th.tokens == free.tokens[:cap]


def test_min_thinking_suppresses_early_end(forcer, engine):
    engine.stop_every = 3
    items = items_for(forcer, 6)
    for th in forcer.think(items, [0] * 6, cap=500, num_wait=0, min_thinking=40):
        assert th.finish == "cap" or len(th.tokens) >= 40
        assert all(a >= 40 for a in th.attempts)
    assert engine.requests[0].min_tokens == 40


def test_auto_cap_follows_s1_rule(forcer):
    items = items_for(forcer, 3)
    longest = max(len(i.prompt) for i in items)
    assert forcer.resolve_cap("auto", items) == 400 - longest - len(forcer.forced_end_ids) - 100
    small = BudgetForcer(forcer.engine, forcer.tokenizer, max_gen_toks=50)
    with pytest.raises(ConfigError, match="max_gen_toks"):
        small.resolve_cap("auto", items)


def test_derive_matches_separate_runs(forcer, engine):
    engine.stop_every = 7
    items = items_for(forcer, 10)
    big = forcer.think(items, [0] * 10, cap=120, num_wait=3)
    for cap in (5, 17, 40, 80, 120):
        for k in range(4):
            own = forcer.think(items, [0] * 10, cap=cap, num_wait=k)
            for b, o in zip(big, own, strict=True):
                assert derive(b, cap, k) == (o.tokens, o.finish)


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(temperature=1.0, samples=3, seed=5)],
                         ids=["greedy", "seeded"])
def test_sweep_equals_setting_by_setting(forcer, engine, sampling):
    engine.stop_every = 8
    items = items_for(forcer, 7)
    settings = [Forced(cap=c, num_wait=w) for c in (16, 32, 64, "auto") for w in (0, 1, 2)]
    settings.append(Forced(cap=48, num_wait=1, min_thinking=20))
    shared = run_sweep(forcer, items, settings, sampling)
    engine_tokens_shared = sum(len(r.prompt) for r in engine.requests)
    engine.requests.clear()
    separate = run_settings_separately(forcer, items, settings, sampling)
    assert len(shared) == len(separate) == len(items) * len(settings) * sampling.samples
    for a, b in zip(shared, separate, strict=True):
        assert (a.qid, a.setting, a.sample) == (b.qid, b.setting, b.sample)
        assert a.thinking_ids == b.thinking_ids
        assert a.answer_ids == b.answer_ids
        assert (a.finish, a.thinking_tokens, a.budget, a.num_wait) == (b.finish, b.thinking_tokens, b.budget,
                                                                         b.num_wait)
    assert engine_tokens_shared > 0
    assert {r.finish for r in shared} == {"cap", "stop"}
    if sampling.samples > 1:
        by_sample = {(r.qid, r.sample): r.thinking_ids for r in shared if r.setting == "cap=64,wait=2"}
        assert by_sample[("q0", 0)] != by_sample[("q0", 1)]


def test_setting_names_and_validation():
    assert Forced(cap=512).name == "cap=512"
    assert Forced(cap="auto", num_wait=2).name == "cap=auto,wait=2"
    assert Forced(cap=64, min_thinking=8).name == "cap=64,min=8"
    with pytest.raises(ConfigError):
        Forced(cap=0)
    with pytest.raises(ConfigError):
        Forced(cap="big")
    with pytest.raises(ConfigError, match="distinct"):
        run_sweep(None, [], [Forced(cap=4), Forced(cap=4)])  # type: ignore[arg-type]
    assert Open(cap=256).name == "open:cap=256"
    assert Vote(samples=8, cap="auto", open=True).name == "maj@8"
    # an open setting forces nothing: it has no Waits, no minimum and no cap that forces
    with pytest.raises(TypeError, match="num_wait"):
        Open(cap=64, num_wait=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="min_thinking"):
        Open(cap=64, min_thinking=8)  # type: ignore[call-arg]
    assert (Open(cap=64).num_wait, Open(cap=64).min_thinking, Open(cap=64).forced) == (0, 0, False)
    assert Rejection(cap=128).name == "rs:cap=128" and Vote(samples=4, cap=64).forced


def test_rejection_sampling_accepts_only_fitting_thinking(forcer, engine):
    engine.stop_every = 12
    items = items_for(forcer, 8)
    rows = rejection_sample(forcer, items, Rejection(cap=10), max_tries=30,
                            sampling=Sampling(temperature=1.0, seed=3))
    assert len(rows) == 8
    for r in rows:
        assert r.thinking_tokens <= 10 and r.setting == "rs:cap=10"
    assert any(r.finish == "stop" for r in rows)
    # with one try, whatever overran is cut at the cap and forced to answer
    rows1 = rejection_sample(forcer, items, Rejection(cap=3), max_tries=1,
                             sampling=Sampling(temperature=1.0, seed=3))
    assert all(r.thinking_tokens <= 3 for r in rows1)
    assert all(r.answer.startswith("\nFinal Answer:") for r in rows1 if r.finish == "cap")
    with pytest.raises(ConfigError):
        rejection_sample(forcer, items, Rejection(cap=10), sampling=Sampling(temperature=0.0))


def test_delimiters_must_be_single_tokens(engine, tokenizer):
    from s1flow.generate.budget import Delimiters

    with pytest.raises(ConfigError, match="think_stop"):
        BudgetForcer(engine, tokenizer, delimiters=Delimiters(think_stop="</think>"))


class CannedEngine:
    """Replies with fixed token lists (cut at max_tokens), recording every request."""

    name = "canned"

    def __init__(self, max_token_id: int, replies: list[list[int]]) -> None:
        self.max_token_id = max_token_id
        self.replies = replies
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out = []
        for req, reply in zip(requests, self.replies, strict=True):
            self.requests.append(req)
            if len(reply) > req.max_tokens:
                out.append(Generation(list(reply[:req.max_tokens]), "length", None))
            else:
                out.append(Generation(list(reply), "stop", req.stop_token_ids[0]))
        return out


def test_open_response_is_the_models_own_generation(tokenizer):
    """No thinking start in the prompt, one request up to cap + answer_max_tokens stopping at <|im_end|>;
    an answer section the model opens itself splits the response, a leading thinking start is dropped."""
    enc = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    direct = enc("The sum is 9. Answer: 9")
    sectioned = enc("<|im_start|>think\n4 plus 5 is 9.<|im_start|>answer\nFinal: 9")
    engine = CannedEngine(len(tokenizer) - 1, [direct, sectioned])
    forcer = BudgetForcer(engine, tokenizer, answer_max_tokens=7, max_gen_toks=400)
    items = items_for(forcer, 2)
    rows = run_sweep(forcer, items, [Open(cap=40)])
    req = engine.requests[0]
    assert tokenizer.decode(req.prompt).endswith("<|im_start|>assistant\n")
    assert list(req.prompt) + forcer.think_start_ids == items[0].prompt  # the prompt without the thinking start
    assert req.max_tokens == 47 and req.stop_token_ids == forcer.answer_stop_ids and req.min_tokens == 0
    assert [r.setting for r in rows] == ["open:cap=40"] * 2 and rows[0].budget == 40
    assert (rows[0].thinking, rows[0].answer, rows[0].thinking_tokens, rows[0].finish) == (
        "The sum is 9. Answer: 9", "", len(direct), "stop")
    assert (rows[1].thinking, rows[1].answer, rows[1].finish) == ("\n4 plus 5 is 9.", "\nFinal: 9", "stop")
    assert rows[1].thinking_tokens == len(enc("\n4 plus 5 is 9."))
    # a response longer than cap + answer_max_tokens is cut there and marked as capped
    engine.replies = [direct * 5, direct]
    engine.requests.clear()
    cut = run_sweep(forcer, items, [Open(cap=8)])
    assert cut[0].finish == "cap" and cut[0].thinking_tokens == 15 and cut[1].finish == "stop"


def test_cut_response():
    assert cut_response([1, 2, 3], "stop", 3) == ([1, 2, 3], "stop")
    assert cut_response([1, 2, 3], "stop", 2) == ([1, 2], "cap")
    assert cut_response([1, 2, 3], "cap", 3) == ([1, 2, 3], "cap")


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(temperature=1.0, samples=3, seed=5)],
                         ids=["greedy", "seeded"])
def test_open_sweep_equals_setting_by_setting(forcer, engine, tokenizer, sampling):
    """Open settings share one response per question and sample; each cap is that response's prefix."""
    engine.stop_every = 15
    items = items_for(forcer, 8)
    settings = [Open(cap=c) for c in (4, 12, 30)] + [Vote(samples=3, cap=30, open=True)]
    shared = run_sweep(forcer, items, settings, sampling)
    assert len(engine.requests) == 8 * sampling.samples  # one generation per (question, sample)
    assert all(tokenizer.decode(r.prompt).endswith("assistant\n") for r in engine.requests)
    engine.requests.clear()
    separate = run_settings_separately(forcer, items, settings, sampling)
    for a, b in zip(shared, separate, strict=True):
        assert (a.qid, a.setting, a.sample, a.finish) == (b.qid, b.setting, b.sample, b.finish)
        assert (a.thinking_ids, a.answer_ids) == (b.thinking_ids, b.answer_ids)
        assert a.thinking_tokens <= a.budget + forcer.answer_max_tokens
    assert {r.finish for r in shared} == {"cap", "stop"}


def test_open_prompt_needs_the_thinking_start(forcer):
    with pytest.raises(ValueError, match="thinking start"):
        forcer.open_prompt(Item("q", [1, 2, 3]))


class ScriptEngine:
    """Continues each known prompt with a fixed script of tokens (a stop token ends a request and
    is not returned), so marker handling can be followed token by token. A prompt that leaves
    the script (e.g. after a forced end) is continued with `fallback`."""

    name = "script"

    def __init__(self, max_token_id: int, scripts: dict[tuple[int, ...], list[int]],
                 fallback: Sequence[int] = ()) -> None:
        self.max_token_id = max_token_id
        self.scripts = scripts
        self.fallback = list(fallback)
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out = []
        for req in requests:
            self.requests.append(req)
            base = next(b for b in self.scripts if tuple(req.prompt[:len(b)]) == b)
            script, done = self.scripts[base], list(req.prompt[len(base):])
            rest = script[len(done):] if script[:len(done)] == done else self.fallback
            toks: list[int] = []
            result = Generation(toks, "stop", None)
            for t in rest:
                if len(toks) >= req.max_tokens:
                    result = Generation(toks, "length", None)
                    break
                if t in req.stop_token_ids and len(toks) >= req.min_tokens:
                    result = Generation(toks, "stop", t)
                    break
                toks.append(t)
            else:
                if len(toks) >= req.max_tokens:
                    result = Generation(toks, "length", None)
            out.append(result)
        return out


def test_step_markers_do_not_end_the_thinking(tokenizer):
    from s1flow.conditional import count_steps, strip_markers

    enc = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    item_text = "What is 7 plus 5?"
    probe = BudgetForcer(ScriptEngine(len(tokenizer) - 1, {}), tokenizer, answer_max_tokens=8)
    setting = Conditional(cap=200, condition="steps", condition_value=2, forced=False)
    prompt = probe.prompt_ids(item_text + setting.suffix)
    body = "<|im_start|>2 steps left\n7 plus 3 is 10.<|im_start|>1 steps left\nThen 2 more is 12."
    script = enc(body + "<|im_start|>answer\nAnswer: 12<|im_end|>")
    engine = ScriptEngine(len(tokenizer) - 1, {tuple(prompt): script}, fallback=enc(" 12<|im_end|>"))
    forcer = BudgetForcer(engine, tokenizer, answer_max_tokens=8, max_gen_toks=400)
    item = Item("q", forcer.prompt_ids(item_text), item_text)
    [row] = run_sweep(forcer, [item], [setting])
    assert engine.requests[0].prompt == prompt  # the condition's sentence follows the question
    assert row.setting == "steps=2" and row.finish == "stop"
    assert row.thinking == body and count_steps(row.thinking) == 2
    assert strip_markers(row.thinking) == "7 plus 3 is 10.Then 2 more is 12."
    assert row.answer.strip() == "Answer: 12"
    # without marker handling the first marker would have ended the thinking
    plain = forcer.think([Item("q", prompt, item_text)], [0], cap=200, num_wait=0)
    assert plain[0].tokens == [] and plain[0].finish == "stop"
    # with budget forcing at 2 steps x 6 tokens, the cap cuts the second step and forces the answer
    forced = Conditional(cap=12, condition="steps", condition_value=2)
    [cut] = run_sweep(forcer, [item], [forced])
    assert cut.setting == "steps=2,cap=12" and cut.finish == "cap" and len(cut.thinking_ids) == 12
    # thinking tokens leave the markers out
    assert row.thinking_tokens == len(enc("7 plus 3 is 10.Then 2 more is 12.")) < len(row.thinking_ids)
    assert cut.thinking_tokens == len(enc(strip_markers(cut.thinking)))
    assert cut.answer.startswith("\nFinal Answer:") or cut.answer.startswith("Final Answer:")


def test_conditional_settings_names_and_validation():
    assert Conditional(cap=512, condition="tokens", condition_value=256, forced=False).name == "tok=256"
    assert Conditional(cap=256, condition="tokens", condition_value=256).name == "tok=256,cap=256"
    assert Conditional(cap=64, condition="class", condition_value="long", forced=False).name == "class=long"
    assert Conditional(cap=64, condition="class", condition_value="short").suffix.startswith("\n\nAnswer after a short")
    assert Conditional(cap=64, condition="steps", condition_value=4).markers
    assert not Conditional(cap=64, condition="class", condition_value="long").markers
    with pytest.raises(ConfigError):
        Conditional(cap=64, condition="tokens", condition_value=0)
    with pytest.raises(ConfigError):
        Conditional(cap=64, condition="class", condition_value="medium")
    with pytest.raises(TypeError, match="forced"):  # only a conditional setting can run without forcing
        Forced(cap=64, forced=False)  # type: ignore[call-arg]


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(temperature=1.0, samples=2, seed=4)],
                         ids=["greedy", "seeded"])
def test_conditional_sweep_equals_setting_by_setting(forcer, engine, sampling):
    """Conditional settings share a trajectory per condition; markers are looked past the same way."""
    engine.stop_every = 6
    items = [Item(f"q{i}", forcer.prompt_ids(f"What is {i} + {i * 7}?"), f"What is {i} + {i * 7}?")
             for i in range(6)]
    settings = [Conditional(cap=60, condition="steps", condition_value=4, forced=False),
                Conditional(cap=24, condition="steps", condition_value=4),
                Conditional(cap=60, condition="tokens", condition_value=32, forced=False),
                Conditional(cap=32, condition="tokens", condition_value=32),
                Conditional(cap=60, condition="class", condition_value="short", forced=False),
                Forced(cap=32)]
    shared = run_sweep(forcer, items, settings, sampling)
    separate = run_settings_separately(forcer, items, settings, sampling)
    for a, b in zip(shared, separate, strict=True):
        assert (a.qid, a.setting, a.sample, a.finish) == (b.qid, b.setting, b.sample, b.finish)
        assert (a.thinking_ids, a.answer_ids) == (b.thinking_ids, b.answer_ids)
    # the scripted model "writes markers" whenever the token after a stop is not the answer's
    assert any(forcer.think_stop_id in r.thinking_ids for r in shared if r.setting.startswith(("tok", "steps")))
    assert not any(forcer.think_stop_id in r.thinking_ids for r in shared if r.setting.startswith(("class", "cap")))


def test_find_sequence_first_or_last():
    from s1flow.generate.budget import find_sequence, suffix_answer_offset

    tokens = [5, 1, 2, 7, 1, 2, 9]
    assert find_sequence(tokens, [1, 2]) == 1 and find_sequence(tokens, [1, 2], last=True) == 4
    assert find_sequence(tokens, [2, 1]) is None and find_sequence(tokens, [2, 1], last=True) is None
    assert find_sequence([1], [1, 2]) is None and find_sequence([1], [1, 2], last=True) is None
    assert suffix_answer_offset(tokens, [1, 2]) == 6 and suffix_answer_offset(tokens, [3]) == 0
