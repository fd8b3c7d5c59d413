"""The vLLM backend, with a fake ``vllm`` (the real run is in tests/integration).

The unit tests inject a fake ``LLM`` / ``SamplingParams`` that follow vLLM 0.32's API shape
(``LLM.generate(prompts, sampling_params, use_tqdm=...)`` -> ``RequestOutput`` with
``outputs[0].token_ids / finish_reason / stop_reason``; the stop token is the last of
``token_ids``, as vLLM returns it). The real test runs ``tests/vllm_smoke.py`` with the vLLM
venv's python (``tests/integration/test_engine_vllm_real.py``).
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
from types import SimpleNamespace

import pytest

from s1flow.engines.base import Engine, Generation, GenerationRequest
from s1flow.engines.vllm import MAX_BIAS_IDS, VLLMEngine
from s1flow.errors import InputFileError

# --------------------------------------------------------------------------------------------
# A fake vllm


class FakeSamplingParams:
    """The fields of ``vllm.SamplingParams`` the engine may set, with vLLM's own checks."""

    FIELDS = {"max_tokens", "min_tokens", "stop_token_ids", "ignore_eos", "temperature", "seed",
              "skip_special_tokens", "detokenize", "logit_bias", "allowed_token_ids", "bad_words"}

    def __init__(self, **kwargs):
        unknown = set(kwargs) - self.FIELDS
        assert not unknown, f"not a SamplingParams field: {unknown}"
        self.__dict__.update({"stop_token_ids": None, "min_tokens": 0, "ignore_eos": False, "logit_bias": None,
                              "temperature": 1.0, "seed": None}, **kwargs)
        if self.max_tokens is not None and self.max_tokens < 1:  # VLLMValidationError in vLLM
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError("min_tokens must be less than or equal to max_tokens")
        self.stop_token_ids = list(self.stop_token_ids or [])
        assert all(isinstance(t, int) for t in self.stop_token_ids)


class FakeLLM:
    """Deterministic stand-in for ``vllm.LLM``: the next token is a hash of the sequence so far.

    It honours max_tokens, min_tokens (stop ids suppressed before it), stop_token_ids (the stop
    token is the last of ``token_ids``, ``stop_reason`` is its id) and ``-inf`` logit biases
    (banned ids are skipped), like vLLM. ``emit`` overrides the generated ids per request.
    """

    def __init__(self, vocab_rows: int | None = 448, emit=None, finish_reason: str | None = None, **kwargs):
        self.kwargs = kwargs
        self.calls: list[tuple[list, list]] = []
        self.emit = emit
        self.finish_reason = finish_reason
        if vocab_rows is not None:
            self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(get_vocab_size=lambda: vocab_rows))
        self.vocab_rows = vocab_rows or 448

    def _next(self, seq: list[int], banned: set[int]) -> int:
        t = (sum(seq) * 31 + 7 * len(seq)) % self.vocab_rows
        while t in banned:
            t = (t + 1) % self.vocab_rows
        return t

    def generate(self, prompts, sampling_params, *, use_tqdm=True):
        assert isinstance(sampling_params, list) and len(sampling_params) == len(prompts)
        self.calls.append((prompts, sampling_params))
        outs = []
        for k, (prompt, sp) in enumerate(zip(prompts, sampling_params, strict=True)):
            ids = list(prompt["prompt_token_ids"])
            banned = {t for t, b in (sp.logit_bias or {}).items() if b == -math.inf}
            if self.emit is not None:
                toks, reason, stop = self.emit(k, ids, sp)
            else:
                toks, reason, stop = [], "length", None
                while len(toks) < sp.max_tokens:
                    extra = set(sp.stop_token_ids) if len(toks) < sp.min_tokens else set()
                    t = self._next(ids + toks, banned | extra)
                    toks.append(t)
                    if t in sp.stop_token_ids:
                        reason, stop = "stop", t
                        break
            comp = SimpleNamespace(index=0, text="", token_ids=toks, finish_reason=self.finish_reason or reason,
                                   stop_reason=stop)
            outs.append(SimpleNamespace(request_id=str(k), prompt_token_ids=ids, outputs=[comp], finished=True))
        return outs


def make_engine(model_dir, **fake_kwargs) -> tuple[VLLMEngine, FakeLLM]:
    made: list[FakeLLM] = []

    def factory(**kwargs):
        made.append(FakeLLM(**fake_kwargs, **kwargs))
        return made[-1]

    engine = VLLMEngine(model_dir, llm_factory=factory, sampling_params_cls=FakeSamplingParams)
    return engine, made[0]


# --------------------------------------------------------------------------------------------
# Unit tests (fake vllm)


def test_protocol_and_construction(tiny_model_dir):
    made = {}

    def factory(**kwargs):
        made.update(kwargs)
        return FakeLLM()

    engine = VLLMEngine(tiny_model_dir, tensor_parallel_size=2, dtype="float32", seed=3, max_model_len=512,
                        gpu_memory_utilization=0.5, llm_factory=factory, sampling_params_cls=FakeSamplingParams,
                        enforce_eager=True)
    assert isinstance(engine, Engine)
    assert engine.name == "vllm"
    assert engine.max_token_id == len(engine.tokenizer) - 1 == 399
    assert made == engine.llm_kwargs == {
        "model": str(tiny_model_dir), "tokenizer": str(tiny_model_dir), "tensor_parallel_size": 2, "dtype": "float32",
        "seed": 3, "max_model_len": 512, "gpu_memory_utilization": 0.5, "enable_prefix_caching": True,
        "enforce_eager": True}
    assert engine.embedding_rows == 448
    assert engine.dropped_oov == 0


def test_sampling_params_and_mapping(tiny_model_dir):
    engine, llm = make_engine(tiny_model_dir)
    # find the id the fake emits third, and make it the stop token
    probe = engine.generate([GenerationRequest(prompt=[5, 6, 7], max_tokens=6)])[0]
    assert probe.finish == "length" and len(probe.tokens) == 6
    stop_id = probe.tokens[2]
    first = probe.tokens.index(stop_id)
    stop_req = GenerationRequest(prompt=[5, 6, 7], max_tokens=50, stop_token_ids=(stop_id, 399), temperature=0.7,
                                 seed=11)
    out = engine.generate([stop_req])
    assert out == [Generation(tokens=probe.tokens[:first], finish="stop", stop_token=stop_id)]
    sp = llm.calls[-1][1][0]
    assert sp.max_tokens == 50 and sp.min_tokens == 0 and sp.stop_token_ids == [stop_id, 399]
    assert sp.temperature == 0.7 and sp.seed == 11
    assert sp.ignore_eos is True and sp.skip_special_tokens is False
    # the padding ids 400..447 are banned with -inf, nothing else
    assert sorted(sp.logit_bias) == list(range(400, 448))
    assert all(v == -math.inf for v in sp.logit_bias.values())
    assert llm.calls[-1][0] == [{"prompt_token_ids": [5, 6, 7]}]


def test_min_tokens_and_clamp(tiny_model_dir):
    engine, llm = make_engine(tiny_model_dir)
    probe = engine.generate([GenerationRequest(prompt=[9], max_tokens=8)])[0]
    stop_id = probe.tokens[0]
    out = engine.generate([GenerationRequest(prompt=[9], max_tokens=8, stop_token_ids=(stop_id,), min_tokens=3)])[0]
    assert len(out.tokens) >= 3 and stop_id not in out.tokens[:3]
    assert (out.finish, out.stop_token) in {("stop", stop_id), ("length", None)}
    # min_tokens above max_tokens is clamped (vLLM rejects it)
    engine.generate([GenerationRequest(prompt=[9], max_tokens=2, min_tokens=5)])
    assert llm.calls[-1][1][0].min_tokens == 2


def test_max_tokens_zero_skips_vllm(tiny_model_dir):
    engine, llm = make_engine(tiny_model_dir)
    assert engine.generate([GenerationRequest(prompt=[1, 2], max_tokens=0)]) == [Generation([], "length", None)]
    assert llm.calls == []
    reqs = [GenerationRequest(prompt=[1, 2], max_tokens=0), GenerationRequest(prompt=[3], max_tokens=4),
            GenerationRequest(prompt=[4], max_tokens=0), GenerationRequest(prompt=[5], max_tokens=2)]
    out = engine.generate(reqs)
    assert [len(g.tokens) for g in out] == [0, 4, 0, 2]
    assert [p["prompt_token_ids"] for p in llm.calls[-1][0]] == [[3], [5]]  # only the non-empty ones, in order
    assert engine.generate([]) == []


def test_oov_ids_are_dropped_and_counted(tiny_model_dir, caplog):
    def emit(k, prompt, sp):
        if k == 0:
            return [5, 400, 6, 447, 7, 9], "stop", 9
        return [401, 402], "length", None

    engine, _ = make_engine(tiny_model_dir, emit=emit)
    reqs = [GenerationRequest(prompt=[1], max_tokens=10, stop_token_ids=(9,)), GenerationRequest([2], 2)]
    with caplog.at_level(logging.WARNING, logger="s1flow.engines.vllm"):
        out = engine.generate(reqs)
    assert out == [Generation([5, 6, 7], "stop", 9), Generation([], "length", None)]
    assert engine.dropped_oov == 4
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("dropped 2 generated id(s)" in m and "0..399" in m for m in msgs), msgs
    assert any("4 dropped so far" in m for m in msgs), msgs


def test_prompt_and_stop_ids_are_checked(tiny_model_dir):
    engine, llm = make_engine(tiny_model_dir)
    with pytest.raises(ValueError, match="outside the tokenizer's range"):
        engine.generate([GenerationRequest(prompt=[1], max_tokens=1), GenerationRequest(prompt=[3, 400], max_tokens=1)])
    with pytest.raises(ValueError, match="outside the tokenizer's range"):
        engine.generate([GenerationRequest(prompt=[-1], max_tokens=0)])
    with pytest.raises(ValueError, match="stop_token_ids"):
        engine.generate([GenerationRequest(prompt=[1], max_tokens=3, stop_token_ids=(420,))])
    assert llm.calls == []


def test_unexpected_finish_reason(tiny_model_dir):
    engine, _ = make_engine(tiny_model_dir, finish_reason="abort")
    with pytest.raises(RuntimeError, match="unexpected finish_reason 'abort'"):
        engine.generate([GenerationRequest(prompt=[1], max_tokens=3)])


def test_stop_reason_none_falls_back_to_last_token(tiny_model_dir):
    engine, _ = make_engine(tiny_model_dir, emit=lambda k, p, sp: ([4, 8, 2], "stop", None))
    out = engine.generate([GenerationRequest(prompt=[1], max_tokens=5, stop_token_ids=(2,))])
    assert out == [Generation([4, 8], "stop", 2)]
    engine, _ = make_engine(tiny_model_dir, emit=lambda k, p, sp: ([4, 8], "stop", None))
    with pytest.raises(RuntimeError, match="stop_reason None"):
        engine.generate([GenerationRequest(prompt=[1], max_tokens=5, stop_token_ids=(2,))])


def test_vocab_size_fallbacks(tiny_model_dir, caplog):
    # no vLLM model config: config.json's vocab_size
    engine, _ = make_engine(tiny_model_dir, vocab_rows=None)
    assert engine.embedding_rows == 448 and sorted(engine._oov_bias) == list(range(400, 448))
    # no padding: no bias
    engine, llm = make_engine(tiny_model_dir, vocab_rows=400)
    engine.generate([GenerationRequest(prompt=[1], max_tokens=2)])
    assert llm.calls[-1][1][0].logit_bias is None
    # too much padding for vLLM's logit_bias limit: filtered only, with a warning
    with caplog.at_level(logging.WARNING, logger="s1flow.engines.vllm"):
        engine, _ = make_engine(tiny_model_dir, vocab_rows=400 + MAX_BIAS_IDS + 1)
    assert engine._oov_bias is None
    assert any("only filtered" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("case", ["missing", "file", "no_config", "no_weights"])
def test_bad_model_dir(tiny_model_dir, tmp_path, case):
    if case == "missing":
        path, match = tmp_path / "nope", "model directory not found"
    elif case == "file":
        path, match = tmp_path / "model.txt", "not a directory"
        path.write_text("x")
    else:
        path = tmp_path / "model"
        shutil.copytree(tiny_model_dir, path)
        if case == "no_config":
            (path / "config.json").unlink()
            match = "no config.json"
        else:
            (path / "model.safetensors").unlink()
            match = "no model weights"

    def factory(**kwargs):
        raise AssertionError("vLLM must not start for a bad model directory")

    with pytest.raises(InputFileError, match=match):
        VLLMEngine(path, llm_factory=factory)


def test_vllm_not_importable(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(ImportError, match=r"setup_vllm_cpu\.sh.*pip install vllm"):
        VLLMEngine(tiny_model_dir)
    # the model directory is checked first
    with pytest.raises(InputFileError):
        VLLMEngine(tmp_path / "nope")
