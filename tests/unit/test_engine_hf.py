"""The transformers backend: batching, per-row controls, position-keyed sampling, vocabulary guard."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch

from s1flow.engines.base import Engine, Generation, GenerationRequest
from s1flow.engines.hf import TransformersEngine
from s1flow.errors import InputFileError

TEXTS = [
    "What is 2+2?",
    "A triangle has sides 3, 4 and 5. Find its area and explain every step of the computation.",
    "Hi",
    "Let x be a real number with x^2 = 9. How many values can x take?",
]


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> TransformersEngine:
    return TransformersEngine(tiny_model_dir, device="cpu", batch_size=4)


def _prompts(engine: TransformersEngine) -> list[list[int]]:
    """Differently sized prompts: tokenized texts and random in-vocabulary ids."""
    rng = random.Random(3)
    prompts = [engine.tokenizer.encode(t, add_special_tokens=False) for t in TEXTS]
    prompts += [[rng.randrange(engine.max_token_id + 1) for _ in range(n)] for n in (27, 7, 23, 40)]
    return prompts


@pytest.fixture(scope="module")
def stop_later(engine: TransformersEngine) -> tuple[list[int], list[int], int, int]:
    """A prompt whose greedy run holds a token first produced at index j > 0: (prompt, tokens, stop id, j)."""
    for prompt in _prompts(engine):
        tokens = engine.generate([GenerationRequest(prompt, 40)])[0].tokens
        for j, t in enumerate(tokens):
            if j > 0 and t not in tokens[:j]:
                return prompt, tokens, t, j
    raise AssertionError("no greedy run in the fixture prompts changes token")


def test_engine_protocol(engine: TransformersEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.name == "transformers"
    assert engine.max_token_id == len(engine.tokenizer) - 1
    assert engine.vocab_width > engine.max_token_id + 1  # the fixture pads the embedding


def test_greedy_deterministic_and_batch_independent(engine: TransformersEngine) -> None:
    prompts = _prompts(engine)
    reqs = [GenerationRequest(p, 8 + 2 * (i % 4)) for i, p in enumerate(prompts)]
    reqs.append(GenerationRequest(prompts[1], 12, temperature=0.7, seed=11))
    reqs.append(GenerationRequest(prompts[2], 12, temperature=1.0, seed=5))
    alone = [engine.generate([r])[0] for r in reqs]
    batched = engine.generate(reqs)  # unsorted lengths, two chunks of batch_size 4
    assert batched == alone
    assert engine.generate(reqs) == batched
    for r, g in zip(reqs, batched, strict=True):
        assert len(g.tokens) == r.max_tokens and g.finish == "length" and g.stop_token is None


def test_max_tokens_and_stop(engine: TransformersEngine, stop_later) -> None:
    prompt, tokens, stop, j = stop_later
    g = engine.generate([GenerationRequest(prompt, 7)])[0]
    assert g == Generation(tokens=tokens[:7], finish="length", stop_token=None)
    assert engine.generate([GenerationRequest(prompt, 0, stop_token_ids=(stop,))]) == [Generation([], "length")]

    other = _prompts(engine)[2]
    reqs = [GenerationRequest(other, 9), GenerationRequest(prompt, 40, stop_token_ids=(engine.max_token_id, stop)),
            GenerationRequest(prompt, 3)]
    got = engine.generate(reqs)
    assert got[1] == Generation(tokens=tokens[:j], finish="stop", stop_token=stop)
    assert stop not in got[1].tokens
    assert got[0].finish == "length" and len(got[0].tokens) == 9
    assert got[2] == Generation(tokens=tokens[:3], finish="length")
    if j > 1:  # the stop lies beyond max_tokens: length wins
        assert engine.generate([GenerationRequest(prompt, j - 1, stop_token_ids=(stop,))])[0] == Generation(
            tokens[: j - 1], "length")


def test_min_tokens_suppresses_stop(engine: TransformersEngine, stop_later) -> None:
    prompt, tokens, stop, j = stop_later
    min_tokens = j + 4
    g = engine.generate([GenerationRequest(prompt, 40, stop_token_ids=(stop,), min_tokens=min_tokens)])[0]
    assert g.tokens[:j] == tokens[:j]
    assert len(g.tokens) >= min_tokens
    assert stop not in g.tokens[:min_tokens]
    if g.finish == "stop":
        assert g.stop_token == stop and stop not in g.tokens
    else:
        assert len(g.tokens) == 40 and stop not in g.tokens
    # min_tokens above max_tokens: the stop never fires
    g = engine.generate([GenerationRequest(prompt, j + 2, stop_token_ids=(stop,), min_tokens=50)])[0]
    assert g.finish == "length" and len(g.tokens) == j + 2 and stop not in g.tokens


def test_position_keyed_sampling(engine: TransformersEngine) -> None:
    prompt = _prompts(engine)[0]
    n, k, seed = 24, 9, 1234

    def sample(p: list[int], m: int, s: int | None) -> list[int]:
        return engine.generate([GenerationRequest(p, m, temperature=1.0, seed=s)])[0].tokens

    full = sample(prompt, n, seed)
    first = sample(prompt, k, seed)
    rest = sample(prompt + first, n - k, seed)
    assert first + rest == full
    assert sample(prompt, n, seed) == full
    assert sample(prompt, n, seed + 1) != full
    assert sample(prompt, n, None) == sample(prompt, n, 0)
    greedy = engine.generate([GenerationRequest(prompt, n)])[0].tokens
    assert full != greedy


def test_out_of_vocabulary_guard(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from s1flow.models import load_hf_tokenizer

    n_ids = len(load_hf_tokenizer(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    head = model.get_output_embeddings().weight
    assert head.shape[0] > n_ids
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # tied: also changes embed_tokens, which only ids never fed back use
        head[n_ids:] = 10.0 * torch.randn(head.shape[0] - n_ids, head.shape[1], generator=gen)
    out = tmp_path / "padded_huge"
    shutil.copytree(tiny_model_dir, out)
    model.save_pretrained(out)

    eng = TransformersEngine(out, device="cpu")
    prompts = _prompts(eng)[:4]
    with torch.no_grad():  # an unguarded argmax picks a padded row
        logits = model(torch.tensor([prompts[0]])).logits[0, -1]
    assert int(logits.argmax()) > eng.max_token_id

    reqs = [GenerationRequest(p, 16) for p in prompts]
    reqs += [GenerationRequest(p, 16, temperature=1.0, seed=i) for i, p in enumerate(prompts)]
    for g in eng.generate(reqs):
        assert len(g.tokens) == 16
        assert all(0 <= t <= eng.max_token_id for t in g.tokens)

    with pytest.raises(ValueError, match="outside the tokenizer's range"):
        eng.generate([GenerationRequest([1, 2, eng.max_token_id + 1], 4)])
    with pytest.raises(ValueError, match="outside the tokenizer's range"):
        eng.generate([GenerationRequest([-1], 4)])


def _no_config(d: Path, model: Path) -> Path:
    d.mkdir()
    return d


def _no_weights(d: Path, model: Path) -> Path:
    d.mkdir()
    for f in model.iterdir():
        if f.suffix == ".json":
            shutil.copy(f, d / f.name)
    return d


def _bad_config(d: Path, model: Path) -> Path:
    shutil.copytree(model, d)
    (d / "config.json").write_text("{not json")
    return d


def _a_file(d: Path, model: Path) -> Path:
    d.write_text(json.dumps({}))
    return d


@pytest.mark.parametrize(("make", "what"), [
    (lambda d, m: d, "not found"),
    (_a_file, "not a directory"),
    (_no_config, "no config.json"),
    (_no_weights, "no model weights"),
    (_bad_config, "unreadable model config"),
])
def test_bad_model_dir(tiny_model_dir: Path, tmp_path: Path, make, what: str) -> None:
    path = make(tmp_path / "model", tiny_model_dir)
    with pytest.raises(InputFileError, match=what) as info:
        TransformersEngine(path, device="cpu")
    assert str(path) in str(info.value)


def test_bad_dtype_and_empty_prompt(tiny_model_dir: Path, engine: TransformersEngine) -> None:
    with pytest.raises(ValueError, match="unknown dtype"):
        TransformersEngine(tiny_model_dir, device="cpu", dtype="int8")
    with pytest.raises(ValueError, match="empty prompt"):
        engine.generate([GenerationRequest([], 4)])
    assert engine.generate([]) == []
