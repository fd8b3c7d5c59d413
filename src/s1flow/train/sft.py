"""s1's SFT data: the training text of each example and the answer-only loss mask.

Exactly as s1 (S1_REFERENCE section 4):

- the assistant content is ``"<|im_start|>think\\n" + trace.strip() + "\\n<|im_start|>answer\\n" + answer``
  where ``answer = answer.strip()``, prefixed with ``"Answer: "`` unless it already contains
  ``"Answer:"`` (:func:`assistant_content`); direct-answer data (no trace, for a base model)
  is the answer part alone;
- the text is the tokenizer's chat template over one user turn (the question) and one
  assistant turn (:func:`format_example`; ChatML when the tokenizer has no template);
- the loss covers only what follows the response template ``<|im_start|>assistant\\n``:
  every token up to and including it, and every padding token, has label -100
  (:func:`tokenize_and_mask`). With ChatML the trained tokens are therefore the assistant
  content, then ``<|im_end|>``, then the template's trailing ``\\n`` -- the model learns to
  close its turn. Padding uses ``<|fim_pad|>`` (a token never seen in data), as s1 does, so
  the end-of-turn token is never confused with padding.

Public API: :func:`assistant_content`, :func:`format_example`, :func:`build_sft_table`,
:func:`tokenize_and_mask`, :func:`resolve_pad_token_id`, :class:`SFTCollator`,
:data:`RESPONSE_TEMPLATE`, :data:`PAD_TOKEN`, :data:`IGNORE_INDEX`, :data:`SFT_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from s1flow.conditional import annotate_trace, conditional_question
from s1flow.errors import ConfigError, InputFileError
from s1flow.models import CHATML_TEMPLATE

RESPONSE_TEMPLATE = "<|im_start|>assistant\n"
PAD_TOKEN = "<|fim_pad|>"
IGNORE_INDEX = -100
THINK_OPEN = "<|im_start|>think\n"
ANSWER_OPEN = "\n<|im_start|>answer\n"
#: columns of the table :func:`build_sft_table` returns (the SFT file).
SFT_COLUMNS = ("qhash", "text", "tokens", "truncated")


def _answer_part(answer: str) -> str:
    answer = answer.strip()
    return answer if "Answer:" in answer else "Answer: " + answer


def assistant_content(trace: str | None, answer: str) -> str:
    """The assistant turn's content: s1's think/answer format, or the answer alone if `trace` is None."""
    if trace is None:
        return _answer_part(answer)
    return THINK_OPEN + trace.strip() + ANSWER_OPEN + _answer_part(answer)


def _chat_template(tokenizer) -> str | None:
    return None if getattr(tokenizer, "chat_template", None) else CHATML_TEMPLATE


def format_example(question: str, trace: str | None, answer: str, tokenizer) -> str:
    """The full training text: the chat template over the question and the assistant content."""
    messages = [{"role": "user", "content": question},
                {"role": "assistant", "content": assistant_content(trace, answer)}]
    template = _chat_template(tokenizer)
    kwargs = {"chat_template": template} if template else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def _missing(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and value != value)


def _token_lengths(tokenizer, texts: Sequence[str]) -> list[int]:
    if not texts:
        return []
    enc = tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False)
    return [len(ids) for ids in enc["input_ids"]]


def build_sft_table(rows: pd.DataFrame, tokenizer, block_size: int, *, direct: bool = False,
                    where: str = "SFT data", control: str | None = None, chunk_tokens: int = 100
                    ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Format every row and count its tokens; return the table (:data:`SFT_COLUMNS`) and a report.

    `rows` needs ``qhash``, ``question`` and, for reasoning data, ``trace`` and ``attempt``
    (the teacher's answer); with ``direct=True`` (base-model data) ``solution`` is the answer
    and no thinking is formatted. A row lacking what it needs is an error naming its qhash.
    ``tokens`` is the untruncated length; ``truncated`` marks examples longer than
    `block_size` (training cuts them at the block size, losing the end of the answer).

    `control` ("tokens" / "steps") formats the data of a length-controlled model
    (:mod:`s1flow.conditional`): countdown markers every `chunk_tokens` tokens of the trace,
    and the question followed by "Think for up to N tokens/steps." with the trace's own N.
    """
    if block_size < 1:
        raise ConfigError(f"block_size must be >= 1, got {block_size}")
    needed = ["qhash", "question", "solution"] if direct else ["qhash", "question", "trace", "attempt"]
    missing_cols = [c for c in needed if c not in rows.columns]
    if missing_cols:
        raise InputFileError(f"{where}: missing column(s) {missing_cols}; found {sorted(map(str, rows.columns))}")
    answer_col = "solution" if direct else "attempt"
    bad = [str(r["qhash"]) for _, r in rows.iterrows()
           if _missing(r["question"]) or _missing(r[answer_col]) or (not direct and _missing(r["trace"]))]
    if bad:
        what = "a question or solution" if direct else "a question, trace or attempt"
        shown = ", ".join(bad[:10]) + (f" ... ({len(bad)} in all)" if len(bad) > 10 else "")
        raise InputFileError(f"{where}: {len(bad)} row(s) lack {what}: qhash {shown}")
    if control and direct:
        raise ConfigError("length-controlled SFT data needs traces; direct-answer data has none")
    budgets: list[int] = []
    texts = []
    for _, r in rows.iterrows():
        question, trace = str(r["question"]), None if direct else str(r["trace"])
        if control:
            trace, budget = annotate_trace(trace, tokenizer, control, chunk_tokens)
            question = conditional_question(question, control, budget)
            budgets.append(budget)
        texts.append(format_example(question, trace, str(r[answer_col]), tokenizer))
    lengths = _token_lengths(tokenizer, texts)
    table = pd.DataFrame({
        "qhash": rows["qhash"].astype(str).tolist(),
        "text": texts,
        "tokens": pd.Series(lengths, dtype="int64"),
        "truncated": pd.Series([n > block_size for n in lengths], dtype="bool"),
    })
    n = len(table)
    report = {
        "examples": n,
        "block_size": int(block_size),
        "direct": bool(direct),
        "over_block_size": int(table["truncated"].sum()),
        "max_tokens": int(max(lengths)) if n else 0,
        "mean_tokens": float(sum(lengths) / n) if n else 0.0,
        "total_tokens": int(sum(lengths)),
        "trained_tokens": int(sum(min(x, block_size) for x in lengths)),
    }
    if control:
        report.update(control=control, chunk_tokens=int(chunk_tokens),
                      mean_budget=float(sum(budgets) / n) if n else 0.0, max_budget=int(max(budgets)) if n else 0)
    return table, report


def resolve_pad_token_id(tokenizer) -> int:
    """s1's pad token ``<|fim_pad|>`` if the tokenizer has it, else its own pad token; else an error."""
    unk = getattr(tokenizer, "unk_token_id", None)
    vocab = tokenizer.get_vocab()
    if PAD_TOKEN in vocab and vocab[PAD_TOKEN] != unk:
        return int(vocab[PAD_TOKEN])
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    raise ConfigError(f"the tokenizer has neither {PAD_TOKEN!r} (s1's pad token) nor a pad token; "
                      f"add one to the tokenizer (e.g. tokenizer.add_special_tokens({{'pad_token': ...}}))")


def _find_last(seq: Sequence[int], sub: Sequence[int]) -> int:
    """Start index of the last occurrence of `sub` in `seq`, or -1."""
    n = len(sub)
    if n == 0:
        return -1
    first = sub[0]
    for i in range(len(seq) - n, -1, -1):
        if seq[i] == first and list(seq[i:i + n]) == list(sub):
            return i
    return -1


def _response_start(ids: Sequence[int], offsets: Sequence[tuple[int, int]] | None, text: str,
                    template_ids: Sequence[int], response_template: str) -> int:
    """Index of the first token after the response template (tokens before it are masked).

    The template's token ids are searched first (as trl's completion-only collator does,
    last occurrence); if the template tokenizes differently in context, the character
    offsets decide: every token that starts before the end of the template is masked.
    -1 when the text holds no response template.
    """
    pos = _find_last(ids, template_ids)
    if pos >= 0:
        return pos + len(template_ids)
    char = text.rfind(response_template)
    if char < 0:
        return -1
    end = char + len(response_template)
    if offsets is None:
        raise ConfigError(f"response template {response_template!r} does not tokenize the same in context and the "
                          f"tokenizer gives no offsets to locate it")
    for k, (start, _stop) in enumerate(offsets):
        if start >= end:
            return k
    return len(ids)


def tokenize_and_mask(texts: Sequence[str], tokenizer, block_size: int, *,
                      response_template: str = RESPONSE_TEMPLATE, pad: bool = False) -> dict[str, list[list[int]]]:
    """Token ids, attention mask and labels of each text, truncated to `block_size`.

    Labels are the ids, with -100 for every token up to and including the last
    `response_template` (the prompt) and, with ``pad=True`` (padding to the longest text),
    for padding. A text without the response template is an error. Without ``pad`` the
    lists have each text's own length (:class:`SFTCollator` pads a batch dynamically).
    """
    if block_size < 1:
        raise ConfigError(f"block_size must be >= 1, got {block_size}")
    pad_id = resolve_pad_token_id(tokenizer)
    template_ids = tokenizer(response_template, add_special_tokens=False)["input_ids"]
    try:
        enc = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False)
        all_offsets = enc["offset_mapping"]
    except (NotImplementedError, TypeError, ValueError):
        enc = tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False)
        all_offsets = [None] * len(texts)
    out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
    for i, (text, ids) in enumerate(zip(texts, enc["input_ids"], strict=True)):
        start = _response_start(ids, all_offsets[i], text, template_ids, response_template)
        if start < 0:
            raise ConfigError(f"example {i}: response template {response_template!r} not found in the text "
                              f"(starts {text[:80]!r}); was it formatted with the model's chat template?")
        ids = list(ids)[:block_size]
        labels = [IGNORE_INDEX if k < start else t for k, t in enumerate(ids)]
        out["input_ids"].append(ids)
        out["attention_mask"].append([1] * len(ids))
        out["labels"].append(labels)
    if pad and out["input_ids"]:
        width = max(len(x) for x in out["input_ids"])
        for k in range(len(out["input_ids"])):
            gap = width - len(out["input_ids"][k])
            out["input_ids"][k] += [pad_id] * gap
            out["attention_mask"][k] += [0] * gap
            out["labels"][k] += [IGNORE_INDEX] * gap
    return out


@dataclass
class SFTCollator:
    """Pads a batch of ``{input_ids, attention_mask, labels}`` to its longest example (right padding).

    Padding positions get `pad_token_id`, attention 0 and label -100. ``pad_to_multiple_of``
    rounds the width up (tensor-core friendly on GPUs).
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: Sequence[dict[str, Sequence[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        n = len(features)
        input_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        for k, f in enumerate(features):
            m = len(f["input_ids"])
            input_ids[k, :m] = torch.as_tensor(f["input_ids"], dtype=torch.long)
            attention[k, :m] = torch.as_tensor(f.get("attention_mask", [1] * m), dtype=torch.long)
            labels[k, :m] = torch.as_tensor(f["labels"], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
