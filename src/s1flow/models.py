"""Model directories and hub ids: what generation and training read before loading a model.

The chat template the workflow writes (ChatML, as Qwen2.5), whether a model is local, its
config.json and end-of-sequence ids, an identity for caches, and the tokenizer loader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from s1flow.errors import InputFileError, first_line

# ChatML as Qwen2.5 writes it, without the default system turn.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


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
        raise InputFileError(f"{path}: cannot load tokenizer: {first_line(exc)}") from exc
