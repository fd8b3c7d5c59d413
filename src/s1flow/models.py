"""Tiny Qwen2-architecture models made from config (the embedded default's models).

The embedded default has no hub access, so it builds its own models: a Qwen2 decoder of a
few layers with random weights on top of the tokenizer the workflow trained. ``head_dim``
is 64 because vLLM's CPU attention backend accepts no other size below 128.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from s1flow.errors import ConfigError, InputFileError

# ChatML as Qwen2.5 writes it, without the default system turn.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


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


WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "pytorch_model.bin.index.json",
                   "*.bin", "*.pt", "*.pth", "*.gguf")


def is_local_model(model: str | os.PathLike) -> bool:
    """A local path (absolute, relative with ./, ~, or existing) rather than a hub name."""
    return isinstance(model, os.PathLike) or str(model).startswith((".", "/", "~")) or Path(model).exists()


def read_model_config(config_file: str | os.PathLike) -> dict:
    """A model's config.json as a dict, with an error naming the file when it is unreadable."""
    config = Path(config_file)
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{config}: unreadable model config: {exc}") from exc
    if not isinstance(data, dict):
        raise InputFileError(f"{config}: model config is not a JSON object")
    return data


def local_model_config(model: str | os.PathLike) -> dict | None:
    """The config of a local model directory, or None for a hub id / a directory without config.json."""
    config = Path(model).expanduser() / "config.json"
    return read_model_config(config) if config.is_file() else None


def generation_eos_ids(model: str | os.PathLike) -> tuple[int, ...]:
    """The end-of-sequence ids of a model's generation config (``generation_config.json``'s
    ``eos_token_id``, one id or a list), which vLLM stops at besides the tokenizer's EOS.

    A local directory is read directly; a hub id through transformers (cached or online);
    () where there is none to be had."""
    path = Path(model).expanduser()
    if is_local_model(model):
        file = path / "generation_config.json"
        if not file.is_file():
            return ()
        try:
            value = json.loads(file.read_text(encoding="utf-8")).get("eos_token_id")
        except (OSError, ValueError, AttributeError) as exc:
            raise InputFileError(f"{file}: not a readable generation config ({exc})") from exc
    else:
        try:
            from transformers import GenerationConfig

            value = GenerationConfig.from_pretrained(str(model)).eos_token_id
        except Exception:  # offline, or the repository has no generation config
            return ()
    values = value if isinstance(value, list) else [value]
    return tuple(int(v) for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= 0)


def model_identity(model: str | os.PathLike) -> str:
    """What a cache of a model's outputs must be keyed by: a hub id as given; for a local
    directory its path plus the size and modification time of its config and weight files,
    so a retrained model at the same path invalidates the cache (without hashing its weights)."""
    if not is_local_model(model):
        return str(model)
    path = Path(model).expanduser()
    if not path.is_dir():
        return str(model)
    files = sorted({f for pattern in ("config.json", *WEIGHT_PATTERNS) for f in path.glob(pattern) if f.is_file()})
    stamps = ",".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    return f"{model}@{stamps}"


def check_model_dir(model: str | os.PathLike) -> None:
    """Raise InputFileError unless a local `model` is a loadable Hugging Face model directory.

    Hub names (``org/name`` that do not exist locally) pass; their loader reports problems.
    """
    if not is_local_model(model):
        return
    path = Path(model).expanduser()
    if not path.exists():
        raise InputFileError(f"{path}: model directory not found")
    if not path.is_dir():
        raise InputFileError(f"{path}: not a directory (expected a Hugging Face model directory)")
    if not (path / "config.json").is_file():
        raise InputFileError(f"{path}: no config.json in the model directory")
    read_model_config(path / "config.json")
    if not any(any(path.glob(p)) for p in WEIGHT_PATTERNS):
        raise InputFileError(f"{path}: no model weights (*.safetensors or pytorch_model*.bin) in the directory")


def load_hf_tokenizer(path: str | os.PathLike):
    """A transformers tokenizer from a model/tokenizer directory or hub name, with a clear error."""
    from transformers import AutoTokenizer

    p = Path(path)
    if str(path).startswith((".", "/")) or p.exists():
        if not p.is_dir():
            raise InputFileError(f"{p}: model/tokenizer directory not found")
        if not any((p / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
            raise InputFileError(f"{p}: no tokenizer files (tokenizer.json / tokenizer_config.json) in the directory")
    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot load tokenizer: {exc}") from exc


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
