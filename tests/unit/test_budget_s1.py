"""s1's harness, token for token (S1_REFERENCE 9.3-9.4): EOS stops, compat "s1" budget forcing, the
answer section that is graded.

A script engine plays a fixed list of tokens after the question's prompt (indexed by position, so
inserted Wait tokens take script positions too) and honours a request's stop ids, min tokens and
max tokens like vLLM: a stop token that comes before ``min_tokens`` is replaced by a filler token.
Every expectation below is written down from that script and the rules, not from the controller.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pytest
from test_budget import ScriptedEngine  # the hash engine of the shared-prefix tests
from transformers import AutoTokenizer

from s1flow.engines.base import Generation, GenerationRequest
from s1flow.errors import ConfigError
from s1flow.generate.budget import BudgetForcer, Item, Sampling
from s1flow.generate.evalsets import benchmark_from_table
from s1flow.generate.grading import answer_section
from s1flow.generate.runners import rejection_sample, run_settings_separately, run_sweep
from s1flow.generate.setting import Conditional, Forced, Rejection
from s1flow.generate.sweep import grade_rows, graded_text


class ListEngine:
    """Emits ``script[len(sequence) - len(base)]`` for a request whose prompt starts with `base`."""

    name = "list"

    def __init__(self, max_token_id: int, base: list[int], script: list[int], *, filler: int,
                 eos_token_ids: tuple[int, ...] = ()) -> None:
        self.max_token_id = max_token_id
        self.base, self.script, self.filler = list(base), list(script), filler
        self.eos_token_ids = eos_token_ids
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out = []
        for req in requests:
            self.requests.append(req)
            assert list(req.prompt[:len(self.base)]) == self.base
            pos = len(req.prompt) - len(self.base)
            toks: list[int] = []
            while len(toks) < req.max_tokens:
                t = self.script[pos + len(toks)] if pos + len(toks) < len(self.script) else self.filler
                if t in req.stop_token_ids:
                    if len(toks) >= req.min_tokens:
                        out.append(Generation(toks, "stop", t))
                        break
                    t = self.filler
                toks.append(t)
            else:
                out.append(Generation(toks, "length", None))
        return out


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def ids(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False)


def one(tok, text: str) -> int:
    (t,) = ids(tok, text)
    return t


@pytest.fixture(scope="module")
def t(tok):
    """Named single tokens of the tiny tokenizer."""
    letters = [i for i in range(50, 120) if "\n" not in tok.decode([i]) and tok.decode([i]).strip()][:12]
    return {"S": one(tok, "<|im_start|>"), "E": one(tok, "<|im_end|>"), "X": one(tok, "<|endoftext|>"),
            "NL": ids(tok, "\n")[-1], "L": letters, "F": letters[-1]}


def make(tok, t, script, *, compat="s1flow", eos=(), answer_max_tokens=6, max_gen_toks=None):
    prompt = BudgetForcer(ListEngine(len(tok) - 1, [], [], filler=t["F"]), tok).prompt_ids("q?")
    engine = ListEngine(len(tok) - 1, prompt, script, filler=t["F"], eos_token_ids=eos)
    forcer = BudgetForcer(engine, tok, answer_max_tokens=answer_max_tokens, max_gen_toks=max_gen_toks,
                          compat=compat)
    return engine, forcer, Item("q", prompt, "q?")


# --------------------------------------------------------------------------- EOS ends thinking and answer


@pytest.mark.parametrize("compat", ["s1flow", "s1"])
def test_im_end_inside_the_thinking_ends_it_and_the_answer_start_follows(tok, t, compat):
    a, b, c = t["L"][:3]
    engine, forcer, item = make(tok, t, [a, b, c, t["E"], a, a, a], compat=compat)
    (th,) = forcer.think([item], [0], cap=20, num_wait=0)
    assert th.tokens == [a, b, c] and th.finish == "stop"
    assert engine.requests[0].stop_token_ids == (t["S"], t["E"])  # <|im_start|> or the tokenizer's EOS
    assert forcer.answer_suffix(th.tokens, "stop") == forcer.answer_start_ids


def test_model_eos_from_the_generation_config_stops_thinking_and_answer(tok, t):
    a, b = t["L"][:2]
    answer_start = ids(tok, "<|im_start|>answer")
    # thinking: a b then <|endoftext|>; answer (after the answer start): b a then <|endoftext|>
    script = [a, b, t["X"]]
    engine, forcer, item = make(tok, t, script, eos=(t["X"],))
    assert forcer.think_stop_ids == (t["S"], t["E"], t["X"]) and forcer.answer_stop_ids == (t["E"], t["X"])
    (th,) = forcer.think([item], [0], cap=20, num_wait=0)
    assert th.tokens == [a, b] and th.finish == "stop"
    engine.script = [a, b, *answer_start, b, a, t["X"], a, a]
    ((text, answer_ids),) = forcer.answer([(item, th.tokens, "stop", 0)])
    assert answer_ids == [b, a]  # the answer phase no longer runs past <|endoftext|>
    assert engine.requests[-1].stop_token_ids == (t["E"], t["X"])


# --------------------------------------------------------------------------- compat s1 with Waits


def test_s1_every_segment_asks_for_the_full_cap_and_the_thinking_is_cut_afterwards(tok, t):
    L = t["L"]
    wait = ids(tok, "Wait")
    w = len(wait)
    cap = 10
    # segment 1: 4 tokens, then the stop; the Wait takes the next w positions; segment 2: 8 tokens, the stop
    seg2 = L[4:12]
    script = [*L[:4], t["S"], *([t["F"]] * (w - 1)), *seg2, t["S"]]
    full = [*L[:4], *wait, *seg2]  # what s1's harness joins before the cut
    engine, forcer, item = make(tok, t, script, compat="s1")
    (th,) = forcer.think([item], [0], cap=cap, num_wait=1)
    assert [r.max_tokens for r in engine.requests] == [cap, cap]
    assert [r.min_tokens for r in engine.requests] == [1, 1]
    assert th.tokens == full and th.finish == "stop"
    # the joined 4 + w + 8 tokens are cut to the cap; the last segment ended on its own: no forced answer
    rows = run_settings_separately(forcer, [item], [Forced(cap=cap, num_wait=1)])
    (row,) = rows
    assert row.thinking_ids == full[:cap] and row.finish == "stop" and row.thinking_tokens == cap
    assert engine.requests[-1].prompt[-len(forcer.answer_start_ids):] == forcer.answer_start_ids
    assert "Final Answer:" not in row.answer
    # s1flow's semantics on the same script: the second segment may use only what is left of the cap
    engine2, forcer2, _ = make(tok, t, engine.script)
    (row2,) = run_settings_separately(forcer2, [item], [Forced(cap=cap, num_wait=1)])
    assert [r.max_tokens for r in engine2.requests[:2]] == [cap, cap - 4 - w]
    assert row2.thinking_ids == full[:cap] and row2.finish == "cap" and row2.answer.startswith("\nFinal Answer:")


def test_s1_newline_test_reads_the_uncut_text(tok, t):
    L = t["L"]
    w = len(ids(tok, "Wait"))
    cap = 8
    # segment 1: 3 tokens and the stop; segment 2 runs past the cap and its last (cap-th) token is a newline,
    # while the cut text ends with a letter
    seg2 = [*L[3:10], t["NL"]]
    script = [*L[:3], t["S"], *([t["F"]] * (w - 1)), *seg2, *L]
    engine, forcer, item = make(tok, t, script, compat="s1")
    (row,) = run_settings_separately(forcer, [item], [Forced(cap=cap, num_wait=1)])
    uncut = [*L[:3], *ids(tok, "Wait"), *seg2]
    assert row.finish == "cap" and row.thinking_ids == uncut[:cap]
    assert not tok.decode(uncut[:cap]).endswith("\n") and tok.decode(uncut).endswith("\n")
    # the uncut text ends with a newline: the forced end follows the cut thinking directly
    assert list(engine.requests[-1].prompt[-len(forcer.forced_end_ids) - 1:]) == [uncut[cap - 1],
                                                                                   *forcer.forced_end_ids]
    # s1flow tests the cut text, which needs the newline first
    engine2, forcer2, _ = make(tok, t, script)
    (row2,) = run_settings_separately(forcer2, [item], [Forced(cap=cap, num_wait=1)])
    assert list(engine2.requests[-1].prompt[-len(forcer2.forced_end_ids) - 1:]) == [
        *forcer2.newline_ids, *forcer2.forced_end_ids][-len(forcer2.forced_end_ids) - 1:]


def test_s1_waits_override_min_thinking_with_one_token(tok, t):
    L = t["L"]
    engine, forcer, item = make(tok, t, [t["S"], *L[:3], t["S"], *L], compat="s1")
    (th,) = forcer.think([item], [0], cap=30, num_wait=1, min_thinking=25)
    assert [r.min_tokens for r in engine.requests] == [1, 1]
    assert th.tokens[0] == t["F"]  # the stop at the first position is suppressed by min_tokens 1
    engine.requests.clear()
    forcer.think([item], [0], cap=30, num_wait=0, min_thinking=25)
    assert [r.min_tokens for r in engine.requests] == [25]  # without Waits the minimum stays


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(temperature=1.0, samples=3, seed=5)],
                         ids=["greedy", "seeded"])
def test_s1_shared_prefix_sweep_equals_setting_by_setting(tiny_model_dir, tok, sampling):
    engine = ScriptedEngine(len(tok) - 1, stop_every=7)
    forcer = BudgetForcer(engine, tok, answer_max_tokens=12, max_gen_toks=400, compat="s1")
    items = [Item(f"q{i}", forcer.prompt_ids(f"What is {i} + {i * 3}?"), f"What is {i}?") for i in range(8)]
    settings = [Forced(cap=c, num_wait=w) for c in (6, 16, 40, "auto") for w in (0, 1, 2, 4)]
    settings += [Forced(cap=30, min_thinking=12), Forced(cap=30, num_wait=2, min_thinking=12)]
    shared = run_sweep(forcer, items, settings, sampling)
    separate = run_settings_separately(forcer, items, settings, sampling)
    assert len(shared) == len(separate) == len(items) * len(settings) * sampling.samples
    for a, b in zip(shared, separate, strict=True):
        assert (a.qid, a.setting, a.sample, a.finish, a.thinking_ids, a.answer_ids, a.answer) == \
               (b.qid, b.setting, b.sample, b.finish, b.thinking_ids, b.answer_ids, b.answer)
    # s1's cut really happens in this grid: some Wait rows end at the cap although their last segment stopped
    assert any(r.num_wait and r.finish == "stop" and r.thinking_tokens == r.budget for r in shared)


# --------------------------------------------------------------------------- rejection sampling


def test_s1_rejection_accepts_at_most_b_tokens_counting_the_stop(tok, t):
    L = t["L"]
    b = 5
    script = [*L[:5], t["S"], *L]  # a thinking of exactly B tokens, then the stop (B + 1 generated)
    engine, forcer, item = make(tok, t, script, compat="s1")
    (row,) = rejection_sample(forcer, [item], Rejection(cap=b), max_tries=3, sampling=Sampling(temperature=1.0))
    assert [r.max_tokens for r in engine.requests[:3]] == [b + 1] * 3  # three tries, every one rejected
    assert row.finish == "cap" and row.thinking_ids == L[:5]  # the last try is kept, with the forced end
    engine2, forcer2, _ = make(tok, t, script)  # s1flow accepts a thinking of B tokens that ended on its own
    (row2,) = rejection_sample(forcer2, [item], Rejection(cap=b), max_tries=3, sampling=Sampling(temperature=1.0))
    assert row2.finish == "stop" and row2.thinking_ids == L[:5] and len(engine2.requests) == 2  # 1 try + answer
    engine3, forcer3, _ = make(tok, t, [*L[:4], t["S"], *L], compat="s1")  # B - 1 tokens: accepted
    (row3,) = rejection_sample(forcer3, [item], Rejection(cap=b), max_tries=0, sampling=Sampling(temperature=1.0))
    assert row3.finish == "stop" and row3.thinking_ids == L[:4]
    with pytest.raises(ConfigError, match="rejection_max_tries"):
        rejection_sample(forcer3, [item], Rejection(cap=b), max_tries=-1)


# --------------------------------------------------------------------------- step-conditional forcing


def test_s1_step_forcing_ends_at_im_start_zero_with_cap_auto(tok, t):
    L = t["L"]
    zero = one(tok, "0")
    answer = ids(tok, "<|im_start|>answer")[1]
    five = one(tok, "5")
    # x1 <|im_start|>5 x2 <|im_start|>answer x3 <|im_start|>0 x4 ...
    script = [L[0], t["S"], five, L[1], t["S"], answer, L[2], t["S"], zero, L[3], *L]
    setting = Conditional(cap="auto", condition="steps", condition_value=4, forced=True)
    engine, forcer, item = make(tok, t, script, compat="s1", max_gen_toks=400)
    forcer.engine.base = forcer.conditioned([item], setting)[0].prompt
    assert forcer.end_token(setting) == zero
    (row,) = run_settings_separately(forcer, [item], [setting])
    assert row.thinking_ids == [L[0], t["S"], five, L[1], t["S"], answer, L[2]] and row.finish == "stop"
    # s1flow's marker-aware thinking ends where the answer section opens
    engine2, forcer2, _ = make(tok, t, script, max_gen_toks=400)
    forcer2.engine.base = forcer2.conditioned([item], setting)[0].prompt
    (row2,) = run_settings_separately(forcer2, [item], [setting])
    assert row2.thinking_ids == [L[0], t["S"], five, L[1]]
    # in compat s1 an unforced step setting stops at the first <|im_start|>, as s1's harness does
    unforced = Conditional(cap=40, condition="steps", condition_value=4, forced=False)
    (row3,) = run_settings_separately(forcer, [item], [unforced])
    assert row3.thinking_ids == [L[0]]


def test_compat_value_is_checked(tok, t):
    with pytest.raises(ConfigError, match="generation.compat"):
        make(tok, t, [], compat="s2")


# --------------------------------------------------------------------------- the graded text (9.3)


def test_answer_section_follows_s1s_split():
    assert answer_section("<|im_start|>think\nx \\boxed{3}<|im_start|>answer\nFinal Answer: 5") == "Final Answer: 5"
    # the last answer section wins
    assert answer_section("a<|im_start|>answer\nb<|im_start|>answer\nc") == "c"
    # no "answer\n" section: after the last <|im_start|>, its first line dropped
    assert answer_section("t<|im_start|>answerThe answer is 4\nAnswer: 6") == "Answer: 6"
    assert answer_section("t<|im_start|>answer") == "answer"
    assert answer_section("just text \\boxed{2}") == "just text \\boxed{2}"


def test_a_boxed_number_in_the_thinking_does_not_beat_the_final_answer(tok, t):
    from s1flow.generate.budget import SampleResult

    bench = benchmark_from_table(pd.DataFrame({"id": ["1"], "problem": ["x?"], "answer": ["5"]}), name="b",
                                 where="t", seed=0)
    row = SampleResult(qid="1", setting="cap=8", budget=8, num_wait=0, sample=0, columns=Forced(cap=8).columns(),
                       thinking="so \\boxed{3} then\n",
                       answer="\nFinal Answer: 5", thinking_tokens=8, finish="cap",
                       output="<|im_start|>think" + "so \\boxed{3} then\n" + "<|im_start|>answer" + "\nFinal Answer: 5")
    assert graded_text(row) == "Final Answer: 5"
    graded = grade_rows([row], bench)
    assert graded["extracted"].tolist() == ["5"] and graded["correct"].tolist() == [True]
    old = grade_rows([row], bench, graded="all")  # thinking + answer: the thinking's box wins
    assert old["extracted"].tolist() == ["3"] and old["correct"].tolist() == [False]
    assert graded_text(row, "all") == row.thinking + row.answer
    with pytest.raises(ConfigError, match="evaluation.graded_text"):
        graded_text(row, "thinking")


def test_length_control_sentences_follow_s1s_task_text(tok, t):
    from s1flow.generate.evalsets import make_prompt

    _, forcer, _ = make(tok, t, [])
    gpqa = make_prompt("Q?", "mc", "s1", ["a", "b", "c", "d"])
    expected = {
        ("tokens", 64): gpqa + "\n\nThink for up to 64 tokens.",
        ("steps", 8): gpqa + "\n\nThink for up to 8 steps.",
        ("class", "long"): gpqa + "\n\nAnswer after a long amount of thinking. If you feel like you are finished "
                                  "early, spend the extra time trying to double-check your work until you are "
                                  "absolutely sure that you have the correct answer.",
        ("class", "short"): gpqa + "\n\nAnswer after a short amount of thinking. Do not spend excessive time "
                                   "double-checking your work.",
    }
    for (kind, value), text in expected.items():
        (asked,) = forcer.conditioned([Item("g", forcer.prompt_ids(gpqa), gpqa)],
                                      Conditional(condition=kind, condition_value=value, cap=32))
        assert asked.prompt == forcer.prompt_ids(text)


def test_engine_dtype_key():
    from s1flow.generate.sweep import engine_options_with_dtype

    assert engine_options_with_dtype("vllm", {"tensor_parallel_size": 8}, "float32") == {
        "tensor_parallel_size": 8, "dtype": "float32"}
    assert engine_options_with_dtype("transformers", {"dtype": "bfloat16"}, "auto") == {"dtype": "bfloat16"}
    with pytest.raises(ConfigError, match="generation.dtype"):
        engine_options_with_dtype("vllm", {}, "float8")
    with pytest.raises(ConfigError, match="generation.dtype.*engine_options.dtype"):
        engine_options_with_dtype("vllm", {"dtype": "bfloat16"}, "float32")
    with pytest.raises(ConfigError, match="generation.dtype.*openai"):
        engine_options_with_dtype("openai", {"base_url": "http://127.0.0.1:1/v1"}, "float32")


def test_engines_report_the_models_generation_config_eos(tiny_model_dir, tmp_path, tok):
    import json
    import shutil

    from s1flow.engines import load_engine
    from s1flow.models import generation_eos_ids

    im_end, endoftext = one(tok, "<|im_end|>"), one(tok, "<|endoftext|>")
    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir, model)
    cfg = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps({**cfg, "eos_token_id": [im_end, endoftext]}))
    assert generation_eos_ids(model) == (im_end, endoftext)
    assert generation_eos_ids(tmp_path) == ()  # no generation config: none
    hf = load_engine("transformers", model, device="cpu")
    assert hf.eos_token_ids == (im_end, endoftext)
    assert BudgetForcer(hf, hf.tokenizer).think_stop_ids == (one(tok, "<|im_start|>"), im_end, endoftext)
    http = load_engine("openai", "served", base_url="http://127.0.0.1:9/v1", tokenizer=str(model))
    assert http.eos_token_ids == (im_end, endoftext)  # the server ignores EOS; the controller stops there
