"""The preallocated key/value cache: the same states and the same tokens as transformers' DynamicCache."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from transformers import Qwen2Config
from transformers.cache_utils import DynamicLayer

import s1flow.engines.hf as hf
from s1flow.engines.base import GenerationRequest
from s1flow.engines.hf import TransformersEngine
from s1flow.engines.kv_cache import PreallocatedLayer, preallocated_cache


def _states(gen: torch.Generator, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.randn(batch, 2, length, 4, generator=gen), torch.randn(batch, 2, length, 4, generator=gen))


def _same(a: DynamicLayer, b: DynamicLayer) -> None:
    assert a.get_seq_length() == b.get_seq_length()
    assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)


def test_layer_holds_what_dynamic_layer_holds_through_growth_crop_and_reorder() -> None:
    gen = torch.Generator().manual_seed(0)
    ours, stock = PreallocatedLayer(capacity=6), DynamicLayer()
    # a prefill of 5, then single steps past the capacity (the buffer doubles)
    for length in (5, 1, 1, 1, 1, 1, 1, 1):
        k, v = _states(gen, 3, length)
        got, want = ours.update(k, v), stock.update(k, v)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert ours._key_buffer.shape[-2] == 12
    _same(ours, stock)
    # DynamicLayer's own edits replace the tensors; the next update starts from them
    for edit in (lambda layer: layer.crop(-3), lambda layer: layer.reorder_cache(torch.tensor([2, 0, 1])),
                 lambda layer: layer.batch_select_indices(torch.tensor([0, 2])),
                 lambda layer: layer.batch_repeat_interleave(2)):
        edit(ours)
        edit(stock)
        _same(ours, stock)
        k, v = _states(gen, ours.keys.shape[0], 1)
        ours.update(k, v)
        stock.update(k, v)
        _same(ours, stock)
    ours.reset()
    assert ours.get_seq_length() == 0
    k, v = _states(gen, 2, 4)
    assert torch.equal(ours.update(k, v)[0], k)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        PreallocatedLayer(0)


def test_only_plain_full_attention_models_get_it() -> None:
    full = Qwen2Config(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, num_key_value_heads=2)
    cache = preallocated_cache(full, 10)
    assert cache is not None and [type(layer) for layer in cache.layers] == [PreallocatedLayer] * 2
    sliding = Qwen2Config(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, num_key_value_heads=2,
                          use_sliding_window=True, sliding_window=4,
                          layer_types=["sliding_attention", "full_attention"])
    assert preallocated_cache(sliding, 10) is None


def test_engine_tokens_equal_those_of_the_stock_cache(tiny_model_dir: Path, monkeypatch) -> None:
    """Greedy and sampled rows, left-padded prompts of different lengths, stops: token for token the
    same as ``generate`` with its own DynamicCache."""
    engine = TransformersEngine(tiny_model_dir, device="cpu", batch_size=8)
    rng = random.Random(5)
    prompts = [[rng.randrange(engine.max_token_id + 1) for _ in range(n)] for n in (3, 17, 9, 30, 12, 1)]
    requests = [GenerationRequest(p, 20 + 7 * (i % 3)) for i, p in enumerate(prompts)]
    requests.append(GenerationRequest(prompts[1], 25, temperature=1.0, seed=3))
    requests.append(GenerationRequest(prompts[3], 25, temperature=0.7, seed=9, stop_token_ids=(5, 6)))
    ours = engine.generate(requests)
    monkeypatch.setattr(hf, "preallocated_cache", lambda config, capacity: None)
    stock = engine.generate(requests)
    assert [g.tokens for g in ours] == [g.tokens for g in stock]
    assert [g.finish for g in ours] == [g.finish for g in stock]
    assert sum(len(g.tokens) for g in ours) > 100
