"""s1's SFT formatting and answer-only loss mask, on the tiny tokenizer and on the real Qwen2 one."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from s1flow.errors import ConfigError, InputFileError
from s1flow.models import CHATML_TEMPLATE, load_hf_tokenizer
from s1flow.train.sft import (
    IGNORE_INDEX,
    RESPONSE_TEMPLATE,
    SFT_COLUMNS,
    SFTCollator,
    assistant_content,
    build_sft_table,
    format_example,
    resolve_pad_token_id,
    tokenize_and_mask,
)

# Qwen2.5's added tokens in id order from 151643 (tokenizer_config.json of Qwen2.5-*-Instruct).
QWEN25_ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
                "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]

QUESTION = "Nikhil lists the numbers 84, 2, 53, 35, 16, 57. Which number is the 3rd largest?"
TRACE = ("  Alright, so I need to find the 3rd largest of 84, 2, 53, 35, 16, 57.\n\n"
         "The largest is 84, then 57, then 53.\n\nTherefore, the answer is 53.\n ")
ATTEMPT = " The answer is $\\boxed{53}$.\n"


@pytest.fixture(scope="module")
def tiny_tok(tiny_model_dir):
    return load_hf_tokenizer(tiny_model_dir)


def _qwen2_tokenizer(shared_data, *, template: bool):
    from transformers import Qwen2Tokenizer

    d = shared_data / "tokenizer" / "qwen2"
    if not ((d / "vocab.json").is_file() and (d / "merges.txt").is_file()):
        pytest.skip(f"{d}: the real Qwen2 vocab.json + merges.txt are absent")
    vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
    merges = []
    with (d / "merges.txt").open(encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line and not line.startswith("#version"):
                a, b = line.split(" ")
                merges.append((a, b))
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges)  # <|endoftext|> (151643) is its eos and pad token
    tok.add_special_tokens({"additional_special_tokens": QWEN25_ADDED[1:]})
    if template:
        tok.chat_template = CHATML_TEMPLATE
    return tok


_QWEN_CACHE: dict = {}


@pytest.fixture
def qwen_tok(shared_data):
    """The real Qwen2 tokenizer (vocab.json + merges.txt, Qwen2.5's added tokens, ChatML); built once."""
    if shared_data not in _QWEN_CACHE:
        _QWEN_CACHE[shared_data] = _qwen2_tokenizer(shared_data, template=True)
    return _QWEN_CACHE[shared_data]


# --------------------------------------------------------------------------- formatting


def test_assistant_content_is_s1s_format():
    expected = "<|im_start|>think\nthink hard\n<|im_start|>answer\nAnswer: 42"
    assert assistant_content("  think hard\n ", " 42 ") == expected
    # "Answer:" anywhere in the answer: no prefix (s1's rule, case-sensitive); strip still applies
    assert assistant_content("t", "  So. Answer: 7 \n") == "<|im_start|>think\nt\n<|im_start|>answer\nSo. Answer: 7"
    assert assistant_content("t", "answer: 7").endswith("\n<|im_start|>answer\nAnswer: answer: 7")
    assert assistant_content("t", "Answer:7").endswith("answer\nAnswer:7")
    # direct-answer data (base model, no thinking)
    assert assistant_content(None, " 42\n") == "Answer: 42"
    assert assistant_content(None, "Answer: 42") == "Answer: 42"


def test_format_example_is_the_chat_template(tiny_tok):
    text = format_example(QUESTION, TRACE, ATTEMPT, tiny_tok)
    content = assistant_content(TRACE, ATTEMPT)
    assert text == f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n{content}<|im_end|>\n"
    assert content == ("<|im_start|>think\n" + TRACE.strip() + "\n<|im_start|>answer\nAnswer: "
                       + ATTEMPT.strip())


def test_tokenizer_without_template_gets_chatml(shared_data):
    tok = _qwen2_tokenizer(shared_data, template=False)
    assert not tok.chat_template
    text = format_example("Q?", None, "4", tok)
    assert text == "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\nAnswer: 4<|im_end|>\n"


# --------------------------------------------------------------------------- the SFT table


def _rows(n=3):
    return pd.DataFrame({"qhash": [f"h{i}" for i in range(n)],
                         "question": [f"What is {i} + {i}?" for i in range(n)],
                         "trace": [f"I add {i} and {i}. " * (1 + 20 * i) for i in range(n)],
                         "attempt": [f"$\\boxed{{{2 * i}}}$" for i in range(n)],
                         "solution": [str(2 * i) for i in range(n)]})


def test_build_sft_table_and_report(tiny_tok):
    rows = _rows()
    table, report = build_sft_table(rows, tiny_tok, block_size=64)
    assert tuple(table.columns) == SFT_COLUMNS
    assert table["qhash"].tolist() == ["h0", "h1", "h2"]
    assert table["text"][1] == format_example(rows["question"][1], rows["trace"][1], rows["attempt"][1], tiny_tok)
    lengths = [len(tiny_tok(t, add_special_tokens=False)["input_ids"]) for t in table["text"]]
    assert table["tokens"].tolist() == lengths
    assert table["truncated"].tolist() == [n > 64 for n in lengths]
    assert lengths[0] <= 64 < lengths[1] < lengths[2]  # the ablation's point: long traces get cut
    assert report["examples"] == 3 and report["over_block_size"] == 2 and report["block_size"] == 64
    assert report["max_tokens"] == max(lengths)
    assert report["mean_tokens"] == pytest.approx(sum(lengths) / 3)
    assert report["trained_tokens"] == sum(min(n, 64) for n in lengths)


def test_build_sft_table_direct_mode(tiny_tok):
    rows = _rows(2).drop(columns=["trace", "attempt"])
    table, report = build_sft_table(rows, tiny_tok, block_size=4096, direct=True)
    assert table["text"][1] == ("<|im_start|>user\nWhat is 1 + 1?<|im_end|>\n"
                                "<|im_start|>assistant\nAnswer: 2<|im_end|>\n")
    assert report["direct"] and report["over_block_size"] == 0


@pytest.mark.parametrize("control", ["tokens", "steps"])
def test_length_controlled_sft_data(tiny_tok, control):
    """Token-/step-conditional data: the question states the trace's own budget, the trace carries
    the countdown, and only the assistant turn (markers included) is trained."""
    from s1flow.conditional import count_steps, strip_markers

    rows = _rows(3)
    table, report = build_sft_table(rows, tiny_tok, block_size=4096, control=control, chunk_tokens=8)
    assert report["control"] == control and report["chunk_tokens"] == 8
    text = table["text"][2]
    m = re.search(rf"Think for up to (\d+) {control}\.<\|im_end\|>", text)
    assert m, text[:200]
    budget = int(m.group(1))
    thinking = text.split("<|im_start|>think\n", 1)[1].split("\n<|im_start|>answer\n", 1)[0]
    assert strip_markers(thinking) == rows["trace"][2].strip()
    if control == "steps":
        assert count_steps(thinking) == budget > 1
    else:
        assert thinking.startswith(f"<|im_start|>{budget} tokens left\n")
    prompt, trained, _ = _trained_and_prompt(tiny_tok, text)
    assert prompt.endswith(RESPONSE_TEMPLATE) and f"Think for up to {budget}" in prompt
    assert trained.startswith("<|im_start|>think\n<|im_start|>")
    with pytest.raises(ConfigError, match="traces"):
        build_sft_table(rows, tiny_tok, block_size=64, direct=True, control=control)


def test_build_sft_table_errors_name_the_rows(tiny_tok):
    rows = _rows(4)
    rows.loc[1, "trace"] = None
    rows.loc[3, "attempt"] = "  "
    with pytest.raises(InputFileError, match=r"2 row\(s\) lack a question, trace or attempt: qhash h1, h3"):
        build_sft_table(rows, tiny_tok, 256)
    with pytest.raises(InputFileError, match=r"missing column\(s\) \['trace'\]"):
        build_sft_table(rows.drop(columns=["trace"]), tiny_tok, 256)
    with pytest.raises(InputFileError, match=r"missing column\(s\) \['solution'\]"):
        build_sft_table(rows.drop(columns=["solution"]), tiny_tok, 256, direct=True)
    rows.loc[2, "solution"] = None
    with pytest.raises(InputFileError, match="lack a question or solution: qhash h2"):
        build_sft_table(rows, tiny_tok, 256, direct=True)


# --------------------------------------------------------------------------- loss mask


def _trained_and_prompt(tok, text, block_size=100_000, **kw):
    enc = tokenize_and_mask([text], tok, block_size, **kw)
    ids, labels = enc["input_ids"][0], enc["labels"][0]
    k = next(i for i, lab in enumerate(labels) if lab != IGNORE_INDEX)
    assert all(lab == IGNORE_INDEX for lab in labels[:k])
    assert labels[k:] == ids[k:]  # one contiguous trained span, to the end
    return tok.decode(ids[:k]), tok.decode(ids[k:]), enc


@pytest.mark.parametrize("which", ["tiny", "qwen2"])
def test_only_the_assistant_turn_is_trained(which, tiny_tok, request):
    tok = tiny_tok if which == "tiny" else request.getfixturevalue("qwen_tok")
    for trace, answer in ((TRACE, ATTEMPT), (None, "53")):
        text = format_example(QUESTION, trace, answer, tok)
        prompt, trained, enc = _trained_and_prompt(tok, text)
        # what the model learns: the assistant content, the end-of-turn token and the template's newline
        assert trained == assistant_content(trace, answer) + "<|im_end|>\n"
        assert prompt == f"<|im_start|>user\n{QUESTION}<|im_end|>\n" + RESPONSE_TEMPLATE
        assert enc["attention_mask"][0] == [1] * len(enc["input_ids"][0])


def test_real_qwen2_ids(qwen_tok):
    assert resolve_pad_token_id(qwen_tok) == 151662  # <|fim_pad|>, as in Qwen2.5 and s1
    assert qwen_tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]) == [151644, 151645]
    text = format_example("Hi", "t", "1", qwen_tok)
    enc = tokenize_and_mask([text], qwen_tok, 4096)
    ids, labels = enc["input_ids"][0], enc["labels"][0]
    start = ids.index(77091) + 2  # "assistant", "\n"
    assert ids[start - 3:start] == [151644, 77091, 198]
    assert labels[:start] == [IGNORE_INDEX] * start and labels[start:] == ids[start:]
    assert ids[-2:] == [151645, 198]  # trained on <|im_end|> and the newline after it


def test_template_found_by_offsets_when_ids_differ(tiny_tok):
    """A template that tokenizes differently on its own still masks exactly the prompt."""
    text = format_example(QUESTION, TRACE, ATTEMPT, tiny_tok)
    ref = tokenize_and_mask([text], tiny_tok, 4096)
    odd = "ant\n"  # alone: "ant" "\n"; in context part of "assistant"
    assert tiny_tok(odd, add_special_tokens=False)["input_ids"] != tiny_tok(
        RESPONSE_TEMPLATE, add_special_tokens=False)["input_ids"][-2:]
    assert tokenize_and_mask([text], tiny_tok, 4096, response_template=odd)["labels"] == ref["labels"]
    with pytest.raises(ConfigError, match="response template .* not found"):
        tokenize_and_mask([text], tiny_tok, 4096, response_template="<|im_start|>bot\n")


@pytest.mark.parametrize("which", ["tiny", "qwen2"])
def test_padding_is_masked(which, tiny_tok, request):
    tok = tiny_tok if which == "tiny" else request.getfixturevalue("qwen_tok")
    pad = tok.convert_tokens_to_ids("<|fim_pad|>")
    assert resolve_pad_token_id(tok) == pad
    texts = [format_example("Q1?", "short", "1", tok), format_example("Q2?", "a much longer trace " * 5, "2", tok)]
    enc = tokenize_and_mask(texts, tok, 4096, pad=True)
    own = tokenize_and_mask(texts, tok, 4096)
    n0, n1 = len(own["input_ids"][0]), len(own["input_ids"][1])
    assert n0 < n1 and len(enc["input_ids"][0]) == n1
    assert enc["input_ids"][0][n0:] == [pad] * (n1 - n0)
    assert enc["attention_mask"][0] == [1] * n0 + [0] * (n1 - n0)
    assert enc["labels"][0] == own["labels"][0] + [IGNORE_INDEX] * (n1 - n0)
    # the collator pads a batch the same way, as tensors
    batch = SFTCollator(pad)([{k: v[i] for k, v in own.items()} for i in range(2)])
    assert batch["input_ids"].tolist() == enc["input_ids"]
    assert batch["attention_mask"].tolist() == enc["attention_mask"]
    assert batch["labels"].tolist() == enc["labels"]
    assert SFTCollator(pad, pad_to_multiple_of=64)([{k: v[0] for k, v in own.items()}])["input_ids"].shape[1] % 64 == 0


def test_truncation_to_block_size(tiny_tok):
    texts = [format_example(QUESTION, TRACE * 3, ATTEMPT, tiny_tok), format_example("Q?", None, "1", tiny_tok)]
    full = tokenize_and_mask(texts, tiny_tok, 100_000)
    n_prompt = full["labels"][0].index(next(t for t in full["labels"][0] if t != IGNORE_INDEX))
    block = n_prompt + 10
    cut = tokenize_and_mask(texts, tiny_tok, block)
    assert len(full["input_ids"][0]) > block
    assert cut["input_ids"][0] == full["input_ids"][0][:block]
    assert cut["labels"][0] == full["labels"][0][:block]  # the end of the answer (and <|im_end|>) is lost
    assert cut["input_ids"][1] == full["input_ids"][1]  # a short example is untouched
    # a block that ends inside the prompt leaves nothing to train on
    tiny = tokenize_and_mask(texts, tiny_tok, n_prompt)
    assert all(t == IGNORE_INDEX for t in tiny["labels"][0])
    _, report = build_sft_table(pd.DataFrame({"qhash": ["a", "b"], "question": [QUESTION, "Q?"],
                                              "trace": [TRACE * 3, "t"], "attempt": [ATTEMPT, "1"]}),
                                tiny_tok, block)
    assert report["over_block_size"] == 1


def test_missing_pad_token_is_an_error():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"a": 0, "<|im_start|>": 1, "<unk>": 2}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    assert tok.pad_token is None
    with pytest.raises(ConfigError, match="neither '<\\|fim_pad\\|>'.*nor a pad token"):
        resolve_pad_token_id(tok)
    with pytest.raises(ConfigError, match="nor a pad token"):
        tokenize_and_mask(["a"], tok, 16)
    # a tokenizer with its own pad token but no <|fim_pad|> pads with its own
    plain = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="a")
    assert resolve_pad_token_id(plain) == 0


def test_sft_data_of_a_seeded_sample_of_the_subset(tiny_model_dir, tmp_path):
    """conditional.size: the length-controlled models may learn from a sample of the subset."""
    from s1flow.stages.train import run_sft_data

    subset = tmp_path / "s1k.parquet"
    _rows(6).to_parquet(subset)

    def questions(size, seed, name):
        run_sft_data(subset, tiny_model_dir, tmp_path / f"{name}.parquet", tmp_path / f"{name}.json", block_size=256,
                     control="steps", chunk_tokens=8, size=size, seed=seed)
        return pd.read_parquet(tmp_path / f"{name}.parquet")["qhash"].tolist()

    three = questions(3, 1, "a")
    assert len(three) == 3 and three == sorted(three, key=_rows(6)["qhash"].tolist().index)  # subset order
    assert questions(3, 1, "b") == three and questions(3, 2, "c") != three
    assert questions(0, 1, "d") == questions(10, 1, "e") == _rows(6)["qhash"].tolist()
    with pytest.raises(ConfigError, match="sample size -1"):
        questions(-1, 1, "f")
    assert not (tmp_path / "f.parquet").exists()
