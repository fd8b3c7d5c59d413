"""Conditional length control: prompts, countdown markers in training traces, step counting."""

from __future__ import annotations

import re

import pytest
from transformers import AutoTokenizer

from s1flow.conditional import (
    CLASS_PROMPTS,
    annotate_trace,
    conditional_question,
    count_steps,
    prompt_suffix,
    split_chunks,
    strip_markers,
    token_count,
)
from s1flow.errors import ConfigError

TRACE = ("Start with 7. Add 3 to get 10, keep 0. Add 2 to get 2. Add 1 to get 3. Add 3 to get 6. "
         "Add 2 to get 8. Add 3 to get 11, keep 1. So the last digit is 1.")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_prompts():
    assert prompt_suffix("tokens", 256) == "\n\nThink for up to 256 tokens."
    assert prompt_suffix("steps", 8) == "\n\nThink for up to 8 steps."
    assert prompt_suffix("class", "short") == "\n\n" + CLASS_PROMPTS["short"]
    assert CLASS_PROMPTS["long"].startswith("Answer after a long amount of thinking.")
    assert conditional_question("What is 2+2?  ", "steps", 3) == "What is 2+2?\n\nThink for up to 3 steps."
    for bad in (("tokens", 0), ("class", "medium"), ("lines", 4)):
        with pytest.raises(ConfigError):
            prompt_suffix(*bad)


def test_chunks_keep_words_whole_and_join_back(tokenizer):
    chunks = split_chunks(TRACE, tokenizer, 8)
    assert "".join(chunks) == TRACE and len(chunks) > 3
    words = set(TRACE.split())
    for c in chunks[1:]:
        assert c[0].isspace()  # every cut sits before white space
        assert all(w.strip(".,") in {x.strip(".,") for x in words} for w in c.split())
    assert all(token_count(c, tokenizer) >= 8 for c in chunks[:-1])


def test_step_markers_count_down_to_one(tokenizer):
    text, steps = annotate_trace(TRACE, tokenizer, "steps", 8)
    found = [int(m) for m in re.findall(r"<\|im_start\|>(\d+) steps left\n", text)]
    assert found == list(range(steps, 0, -1)) and steps > 3
    assert count_steps(text) == steps
    assert strip_markers(text) == TRACE
    assert text.startswith(f"<|im_start|>{steps} steps left\nStart with 7.")


def test_token_countdown_tracks_the_tokens_left(tokenizer):
    text, budget = annotate_trace(TRACE, tokenizer, "tokens", 10)
    lefts = [int(m) for m in re.findall(r"<\|im_start\|>(\d+) tokens left\n", text)]
    assert lefts[0] == budget and lefts == sorted(lefts, reverse=True)
    pieces = re.split(r"<\|im_start\|>\d+ tokens left\n", text)[1:]
    # each marker's count = the tokens of its piece and all pieces after it
    sizes = [token_count(p, tokenizer) for p in pieces]
    assert lefts == [sum(sizes[i:]) for i in range(len(sizes))]
    assert budget == sum(sizes)
    assert strip_markers(text) == TRACE and count_steps(text) == 0
