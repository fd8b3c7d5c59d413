"""Tiny Qwen2-architecture models made from config (the embedded default's models).

The embedded default has no hub access, so it builds its own models: a Qwen2 decoder of a
few layers with random weights on top of the tokenizer the workflow trained. ``head_dim``
is 64 because vLLM's CPU attention backend accepts no other size below 128.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from s1flow.errors import ConfigError
from s1flow.io import honour_umask
from s1flow.models import CHATML_TEMPLATE, load_hf_tokenizer


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape of a tiny Qwen2 model. ``vocab_multiple`` pads the embedding past the tokenizer,
    as real checkpoints do (Qwen2.5 pads 151665 ids to 152064 rows)."""

    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    num_kv_heads: int = 1
    intermediate_size: int = 256
    max_position_embeddings: int = 4096
    vocab_multiple: int = 64
    tie_word_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def validate(self, where: str = "model spec") -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"{where}: hidden_size {self.hidden_size} is not a multiple of "
                              f"num_heads {self.num_heads}")
        if self.head_dim != 64:
            raise ConfigError(f"{where}: head_dim = hidden_size / num_heads must be 64 (vLLM's CPU backend), "
                              f"got {self.head_dim}")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(f"{where}: num_heads {self.num_heads} is not a multiple of num_kv_heads "
                              f"{self.num_kv_heads}")


def init_tiny_model(tokenizer_dir: str | os.PathLike, out_dir: str | os.PathLike, *, spec: TinyModelSpec | None = None,
                    seed: int = 0) -> Path:
    """Save a randomly initialised tiny Qwen2 model with its tokenizer as a Hugging Face directory."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    spec = spec or TinyModelSpec()
    spec.validate()
    tok = load_hf_tokenizer(tokenizer_dir)
    if tok.chat_template is None:
        tok.chat_template = CHATML_TEMPLATE
    n = len(tok)
    vocab = -(-n // spec.vocab_multiple) * spec.vocab_multiple
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    pad = tok.pad_token_id if tok.pad_token_id is not None else im_end
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        head_dim=spec.head_dim,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=spec.tie_word_embeddings,
        bos_token_id=None,
        eos_token_id=im_end,
        pad_token_id=pad,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = im_end
    model.generation_config.pad_token_id = pad
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    (out / "s1flow_spec.json").write_text(json.dumps({"seed": seed, **asdict(spec)}, indent=2) + "\n")
    honour_umask(out)
    return out


INIT_STAMP = "s1flow_init.json"


def _tokenizer_digest(tokenizer_dir: str | os.PathLike) -> str:
    """A hash of every file of a tokenizer directory (names and bytes)."""
    h = hashlib.sha256()
    root = Path(tokenizer_dir)
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + b"\x1f" + f.read_bytes() + b"\x1e")
    return h.hexdigest()[:16]


def reuse_or_init_tiny_model(tokenizer_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                             spec: TinyModelSpec | None = None, seed: int = 0) -> Path:
    """:func:`init_tiny_model` once: a directory a complete earlier call made with the same
    tokenizer, spec and seed is kept as it is.

    The directory is built beside `out_dir` and renamed into place with its stamp
    (``s1flow_init.json``), so a killed call leaves either no model or a whole one, and a
    rerun never swaps the initial weights under checkpoints trained from them.
    """
    spec = spec or TinyModelSpec()
    out = Path(out_dir)
    stamp = {"seed": seed, "spec": asdict(spec), "tokenizer": _tokenizer_digest(tokenizer_dir)}
    stamp_file = out / INIT_STAMP
    if stamp_file.is_file():
        try:
            if json.loads(stamp_file.read_text()) == stamp:
                return out
        except ValueError:
            pass
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    init_tiny_model(tokenizer_dir, tmp, spec=spec, seed=seed)
    (tmp / INIT_STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def emphasise_tokens(model_dir: str | os.PathLike, tokens: list[str], *, scale: float) -> None:
    """Scale the output-embedding rows of `tokens` in a saved model (unties the embeddings).

    A randomly initialised model almost never emits a given token; a larger output row
    makes it emit, say, the end-of-thinking token now and then, so budget forcing has
    natural ends and Waits to work on in tests and benchmarks of untrained models.
    """
    import torch
    from transformers import AutoModelForCausalLM

    tok = load_hf_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    ids = tok.convert_tokens_to_ids(tokens)
    with torch.no_grad():
        head = model.get_output_embeddings().weight.detach().clone()
        head[ids] *= scale
        model.config.tie_word_embeddings = False
        model.lm_head = torch.nn.Linear(head.shape[1], head.shape[0], bias=False)
        model.lm_head.weight = torch.nn.Parameter(head)
    model.save_pretrained(str(model_dir))
    honour_umask(model_dir)
