"""Loading the tokenizer that measures trace length, and counting tokens fast.

Accepted forms (config ``features.tokenizer``):

- a directory with ``tokenizer.json`` (any Hugging Face fast tokenizer, or the one the
  workflow trains for the embedded default);
- a directory or explicit pair holding ``vocab.json`` + ``merges.txt`` (a Qwen2-style
  byte-level BPE, e.g. the real Qwen2 files), with Qwen's special tokens added at
  their real ids (``<|endoftext|>`` = len(vocab), then ``<|im_start|>``, ``<|im_end|>``);
- a Hugging Face hub name (``Qwen/Qwen2.5-32B-Instruct``), loaded with
  ``AutoTokenizer.from_pretrained`` (needs the hub or its cache).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm

from s1flow.errors import InputFileError, first_line
from s1flow.models import CHATML_TEMPLATE

QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def load_tokenizer(path: str | os.PathLike | None = None, *, vocab: str | None = None,
                   merges: str | None = None) -> Tokenizer:
    """Return a fast ``tokenizers.Tokenizer`` from a directory, a vocab/merges pair or a hub name."""
    if vocab or merges:
        if not (vocab and merges):
            raise InputFileError("tokenizer: 'vocab' and 'merges' must be given together")
        return _from_vocab_merges(Path(vocab), Path(merges))
    if path is None:
        raise InputFileError("tokenizer: give a directory, a hub name, or vocab + merges files")
    p = Path(path)
    if p.is_dir():
        if (p / "tokenizer.json").is_file():
            try:
                return Tokenizer.from_file(str(p / "tokenizer.json"))
            except Exception as exc:  # the tokenizers library raises a bare Exception for a bad file
                raise InputFileError(f"{p / 'tokenizer.json'}: not a readable tokenizer file "
                                     f"({first_line(exc)})") from exc
        if (p / "vocab.json").is_file() and (p / "merges.txt").is_file():
            return _from_vocab_merges(p / "vocab.json", p / "merges.txt")
        raise InputFileError(f"{p}: tokenizer directory has neither tokenizer.json nor vocab.json + merges.txt")
    if p.exists() or str(path).startswith((".", "/")):
        raise InputFileError(f"{p}: tokenizer path is not a directory")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path)).backend_tokenizer
    except (OSError, ValueError) as exc:
        raise InputFileError(f"tokenizer {path!r}: not a local directory, and not a Hugging Face model id that "
                             f"can be loaded here (offline, or no such model?): {first_line(exc)}") from exc


def _from_vocab_merges(vocab: Path, merges: Path) -> Tokenizer:
    from transformers import Qwen2Tokenizer

    for f in (vocab, merges):
        if not f.is_file():
            raise InputFileError(f"{f}: tokenizer file not found")
    try:
        with vocab.open(encoding="utf-8") as fh:
            vocab_map = json.load(fh)
        merge_list = []
        with merges.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if not line or line.startswith("#version"):
                    continue
                a, b = line.split(" ")
                merge_list.append((a, b))
    except (ValueError, OSError) as exc:
        raise InputFileError(f"{vocab} / {merges}: cannot read tokenizer files: {exc}") from exc
    if not isinstance(vocab_map, dict) or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                                  for k, v in vocab_map.items()):
        raise InputFileError(f"{vocab}: expected a JSON object mapping each token to its integer id")
    try:
        tok = Qwen2Tokenizer(vocab=vocab_map, merges=merge_list)
    except Exception as exc:  # the tokenizers library raises bare Exceptions for inconsistent files
        raise InputFileError(f"{vocab} / {merges}: not a consistent byte-level BPE ({first_line(exc)})") from exc
    tok.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS[1:])})
    return tok.backend_tokenizer


def count_tokens(tokenizer: Tokenizer, texts: Sequence[str | None], *, batch_size: int = 2048,
                 progress: bool = False) -> np.ndarray:
    """Number of tokens of each text (no special tokens added); -1 for a missing text.

    Texts go to the Rust tokenizer in large batches, which it encodes in parallel.
    """
    out = np.full(len(texts), -1, dtype=np.int64)
    idx = [i for i, t in enumerate(texts) if isinstance(t, str)]
    batches = range(0, len(idx), batch_size)
    for b in tqdm(batches, desc="tokenizing traces", unit="batch", disable=not progress):
        chunk = idx[b : b + batch_size]
        encodings = tokenizer.encode_batch_fast([texts[i] for i in chunk], add_special_tokens=False)
        out[chunk] = [len(e.ids) for e in encodings]
    return out


def train_bpe_tokenizer(texts: Sequence[str], out_dir: str | os.PathLike, *, vocab_size: int = 2048) -> Tokenizer:
    """Train a small byte-level BPE with Qwen's special tokens and save it as a Hugging Face directory.

    The embedded default uses it in place of the Qwen2.5 tokenizer (no downloads). Special
    tokens: ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``, ``<|fim_pad|>``; ChatML chat template.
    """
    from transformers import PreTrainedTokenizerFast  # deferred: importing transformers takes ~1 s

    specials = [*QWEN_SPECIAL_TOKENS, "<|fim_pad|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(sorted(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|fim_pad|>",
        unk_token=None,
        additional_special_tokens=specials,
    )
    fast.chat_template = CHATML_TEMPLATE
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return tok
