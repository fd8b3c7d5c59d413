"""Hugging Face transformers backend: batched ``model.generate`` with per-row controls.

Every request in a batch keeps its own ``max_tokens``, ``stop_token_ids``, ``min_tokens``,
``temperature`` and ``seed``. ``model.generate`` always runs greedily (``do_sample=False``);
custom logits processors shape each row's scores so that the argmax is the wanted token:

* ids above :attr:`TransformersEngine.max_token_id` (the embedding padded past the
  tokenizer) get ``-inf``, so they are never emitted (s1's vLLM "token id out of
  vocabulary" failure);
* a row's stop ids get ``-inf`` until the row has ``min_tokens`` new tokens;
* rows with ``temperature > 0`` are sampled by the Gumbel-max trick:
  ``score = logits / T + g`` with ``g`` standard Gumbel noise over the vocabulary.

Position-keyed sampling
-----------------------
The noise ``g`` for a row is drawn from a fresh ``torch.Generator`` on the model's device
(CPU and CUDA generators give different streams), seeded with
``splitmix64(splitmix64(seed) ^ p)`` where ``p`` is the absolute index of the token being
produced in the unpadded sequence (prompt length + tokens generated so far). The token at
position ``p`` therefore depends only on the seed, ``p`` and the logits there: generating
``N`` tokens in one call gives the same tokens as generating ``k`` tokens and then
continuing from ``prompt + those k tokens``, and a request gives the same tokens alone or
inside any batch. A sampled request without a seed uses seed 0. Requests sharing a seed
share the noise at equal positions, so give independent samples different seeds.

Batch independence
------------------
Prompts are left padded with an attention mask; transformers derives ``position_ids``
from the mask (``cumsum - 1``) and extends them per step, so a padded row sees the same
positions and keys as it would alone. What remains are floating-point differences from
kernels run on other shapes: exact in float32 on the CPU in practice, while in bfloat16 on
a GPU a near-tie in the logits can occasionally flip a greedy or sampled token.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForCausalLM,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from s1flow.engines.base import Generation, GenerationRequest, check_prompt_ids
from s1flow.engines.kv_cache import preallocated_cache
from s1flow.errors import InputFileError, first_line
from s1flow.models import check_model_dir, is_local_model, load_hf_tokenizer

log = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1
_DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float64": torch.float64,
}


def splitmix64(x: int) -> int:
    """One step of the splitmix64 mixer on a 64-bit unsigned integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def position_seed(seed: int, position: int) -> int:
    """The 64-bit generator seed for sampling the token at absolute ``position`` of a request."""
    return splitmix64(splitmix64(seed & _MASK64) ^ (position & _MASK64))


def gumbel_noise(seed: int, position: int, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard Gumbel noise of length ``size`` (float32, on ``device``) keyed by ``(seed, position)``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(position_seed(seed, position))
    u = torch.rand(size, generator=gen, dtype=torch.float32, device=device)
    u.clamp_(min=torch.finfo(torch.float32).tiny)
    return -torch.log(-torch.log(u))


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is cuda when available, else cpu; anything else goes to :class:`torch.device`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from exc


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` is bfloat16 on cuda when supported (else float16) and float32 elsewhere."""
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected 'auto' or one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


class _RowControls(LogitsProcessor):
    """Per-row score shaping: out-of-vocabulary mask, min-tokens stop suppression, Gumbel-max sampling."""

    def __init__(self, requests: Sequence[GenerationRequest], prompt_lens: Sequence[int], padded_len: int,
                 max_token_id: int, vocab_width: int, device: torch.device) -> None:
        self.padded_len = padded_len
        self.prompt_lens = list(prompt_lens)
        self.max_token_id = max_token_id
        self.min_tokens = torch.tensor([r.min_tokens for r in requests], device=device)
        self.stop_mask = torch.zeros(len(requests), vocab_width, dtype=torch.bool, device=device)
        for i, r in enumerate(requests):
            ids = [t for t in r.stop_token_ids if 0 <= t < vocab_width]
            if ids:
                self.stop_mask[i, ids] = True
        self.has_min = bool((self.min_tokens > 0).any()) and bool(self.stop_mask.any())
        self.sampled = [(i, float(r.temperature), 0 if r.seed is None else int(r.seed))
                        for i, r in enumerate(requests) if r.temperature > 0]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n = input_ids.shape[1] - self.padded_len  # new tokens so far, the same for every row
        scores = scores.clone()
        if scores.shape[-1] > self.max_token_id + 1:
            scores[:, self.max_token_id + 1:] = -float("inf")
        if self.has_min:
            active = (n < self.min_tokens)[:, None] & self.stop_mask[:, : scores.shape[-1]]
            scores = scores.masked_fill(active, -float("inf"))
        if self.sampled:
            width = scores.shape[-1]
            rows = [i for i, _, _ in self.sampled]
            temps = torch.tensor([t for _, t, _ in self.sampled], dtype=scores.dtype, device=scores.device)
            noise = torch.stack([gumbel_noise(seed, self.prompt_lens[i] + n, width, scores.device)
                                 for i, _, seed in self.sampled]).to(scores.dtype)
            scores[rows] = scores[rows] / temps[:, None] + noise
        return scores


class _RowStops(StoppingCriteria):
    """Per-row end: a stop id once ``min_tokens`` exist, or ``max_tokens`` new tokens."""

    def __init__(self, requests: Sequence[GenerationRequest], padded_len: int, device: torch.device) -> None:
        self.padded_len = padded_len
        width = max((len(r.stop_token_ids) for r in requests), default=0) or 1
        stops = torch.full((len(requests), width), -1, dtype=torch.long)
        for i, r in enumerate(requests):
            if r.stop_token_ids:
                stops[i, : len(r.stop_token_ids)] = torch.tensor(r.stop_token_ids, dtype=torch.long)
        self.stops = stops.to(device)
        self.max_tokens = torch.tensor([r.max_tokens for r in requests], device=device)
        self.min_tokens = torch.tensor([r.min_tokens for r in requests], device=device)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None, **kwargs) -> torch.BoolTensor:
        n = input_ids.shape[1] - self.padded_len  # tokens generated, the last one included
        is_stop = (input_ids[:, -1:] == self.stops).any(dim=-1) & (n - 1 >= self.min_tokens)
        return is_stop | (n >= self.max_tokens)


class TransformersEngine:
    """Generation with a Hugging Face causal LM (see the module docstring for the per-row controls).

    ``model`` is a local model directory or a hub name. ``device`` is ``"auto"`` (cuda if
    available, else cpu) or a torch device string; ``dtype`` is ``"auto"`` (bfloat16 on cuda
    where supported, float32 on cpu) or one of float32/bfloat16/float16/float64.
    ``batch_size`` requests run in one ``model.generate`` call, grouped by prompt length.
    """

    name = "transformers"

    def __init__(self, model: str | os.PathLike, *, device: str = "auto", dtype: str = "auto",
                 batch_size: int = 16) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        check_model_dir(model)
        source = str(Path(model).expanduser()) if is_local_model(model) else str(model)
        self.tokenizer = load_hf_tokenizer(source)
        log.info("loading %s on %s as %s", source, self.device, self.dtype)
        # With accelerate, load straight onto an accelerator (no full copy in host memory first).
        direct = self.device.type != "cpu" and importlib.util.find_spec("accelerate") is not None
        try:
            self.model = AutoModelForCausalLM.from_pretrained(
                source, dtype=self.dtype, **({"device_map": str(self.device)} if direct else {}))
        except Exception as exc:  # a broken weights file raises the safetensors library's own error
            raise InputFileError(f"{source}: cannot load model: {first_line(exc)}") from exc
        if not direct:
            self.model.to(self.device)
        self.model.eval()
        self.vocab_width = int(self.model.get_output_embeddings().weight.shape[0])
        max_token_id = len(self.tokenizer) - 1
        if max_token_id >= self.vocab_width:
            log.warning("%s: tokenizer has %d ids but the model only %d output rows; using %d as max_token_id",
                        source, max_token_id + 1, self.vocab_width, self.vocab_width - 1)
            max_token_id = self.vocab_width - 1
        self.max_token_id = max_token_id
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.model.config.pad_token_id
        if pad is None or not 0 <= pad <= max_token_id:
            pad = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        self.pad_token_id = int(pad)
        # The checkpoint's end-of-sequence ids: the controller adds them to its stop ids, as vLLM stops there
        eos = self.model.generation_config.eos_token_id
        self.eos_token_ids = tuple(int(t) for t in (eos if isinstance(eos, list) else [eos]) if isinstance(t, int))
        # A clean generation config: the checkpoint's own defaults (eos ids, repetition penalty,
        # top-k/top-p, ...) would otherwise be merged into every generate call.
        self._generation_config = GenerationConfig(
            do_sample=False, num_beams=1, pad_token_id=self.pad_token_id, eos_token_id=None, bos_token_id=None,
            use_cache=True, return_dict_in_generate=False,
        )
        self.model.generation_config = self._generation_config

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate every request; results are in request order."""
        for k, r in enumerate(requests):
            if len(r.prompt) == 0:
                raise ValueError(f"request {k}: empty prompt")
            check_prompt_ids(r.prompt, self.max_token_id, where=f"request {k} prompt")
        results: list[Generation | None] = [None] * len(requests)
        todo = []
        for k, r in enumerate(requests):
            if r.max_tokens == 0:
                results[k] = Generation(tokens=[], finish="length")
            else:
                todo.append(k)
        todo.sort(key=lambda k: (len(requests[k].prompt), k))
        disable = len(requests) < 8 or not getattr(sys.stderr, "isatty", lambda: False)()
        with tqdm(total=len(requests), desc="generate", unit="req", disable=disable) as bar:
            bar.update(len(requests) - len(todo))
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start: start + self.batch_size]
                for k, gen in zip(chunk, self._generate_batch([requests[k] for k in chunk]), strict=True):
                    results[k] = gen
                bar.update(len(chunk))
        return [g for g in results if g is not None]

    def _generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """One ``model.generate`` call over left-padded prompts."""
        lens = [len(r.prompt) for r in requests]
        width = max(lens)
        ids = torch.full((len(requests), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(requests), width), dtype=torch.long)
        for i, r in enumerate(requests):
            ids[i, width - lens[i]:] = torch.tensor(list(r.prompt), dtype=torch.long)
            mask[i, width - lens[i]:] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        max_new = max(r.max_tokens for r in requests)
        processors = LogitsProcessorList(
            [_RowControls(requests, lens, width, self.max_token_id, self.vocab_width, self.device)])
        stops = StoppingCriteriaList([_RowStops(requests, width, self.device)])
        config = copy.deepcopy(self._generation_config)
        config.max_new_tokens = max_new
        # the prompt and every new token fit the cache's buffers: no per-step copy of the cache
        cache = preallocated_cache(self.model.config, width + max_new)
        extra = {} if cache is None else {"past_key_values": cache}
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                                      logits_processor=processors, stopping_criteria=stops, **extra)
        new = out[:, width:].tolist()
        return [_trim(row, r) for row, r in zip(new, requests, strict=True)]


def _trim(tokens: list[int], request: GenerationRequest) -> Generation:
    """Cut one row's new tokens at its stop token (not returned) or at ``max_tokens``."""
    stop = set(request.stop_token_ids)
    for j, t in enumerate(tokens[: request.max_tokens]):
        if t in stop and j >= request.min_tokens:
            return Generation(tokens=tokens[:j], finish="stop", stop_token=t)
    return Generation(tokens=tokens[: request.max_tokens], finish="length")
