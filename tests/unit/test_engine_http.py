"""The OpenAI-compatible client and completions engine against a real, misbehaving local server."""

from __future__ import annotations

import json
import logging
import time

import pytest
from openai_server import Fault, next_token, serve

from s1flow.engines.base import Engine, GenerationRequest
from s1flow.engines.http import APIError, BatchError, ChatReply, OpenAIClient, OpenAICompletionsEngine
from s1flow.errors import ConfigError, S1FlowError

KEY = "sk-test-Zq8v1Xw9SECRET42"
ENV = "S1FLOW_TEST_API_KEY"
HELLO = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture
def server():
    with serve() as s:
        yield s


@pytest.fixture
def keyed_server(monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    with serve(expected_key=KEY) as s:
        yield s


def make_client(server, **kw) -> OpenAIClient:
    opts = {"timeout": 5, "max_retries": 3, "backoff": 0.001, "max_backoff": 0.05, "concurrency": 4}
    opts.update(kw)
    return OpenAIClient(server.url, "test-model", **opts)


def items(n: int) -> dict[str, list[dict]]:
    return {f"q{i:03d}": [{"role": "user", "content": f"Question number {i}?"}] for i in range(n)}


# -- chat -------------------------------------------------------------------------------


def test_chat_returns_reply_and_sends_openai_body(keyed_server):
    client = make_client(keyed_server, api_key_env=ENV, extra_body={"top_p": 0.9})
    reply = client.chat(HELLO, max_tokens=50, seed=3, stop=["\n\n"])
    assert isinstance(reply, ChatReply)
    assert reply.text.startswith("Answer: ")
    assert reply.reasoning and reply.reasoning.startswith("Let me think about: What is 2 + 2?")
    assert reply.finish_reason == "stop"
    assert reply.usage["completion_tokens"] == 2
    (req,) = keyed_server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert req.body == {"top_p": 0.9, "model": "test-model", "messages": HELLO, "temperature": 0.0,
                        "max_tokens": 50, "seed": 3, "stop": ["\n\n"]}


@pytest.mark.parametrize("style", ["reasoning", "think", "plain"])
def test_reasoning_field_variants(style):
    with serve(teacher_style=style) as srv:
        reply = make_client(srv).chat(HELLO)
    if style == "reasoning":
        assert reply.reasoning.startswith("Let me think")
    else:
        assert reply.reasoning is None
        assert ("<think>" in reply.text) == (style == "think")


def test_no_key_sends_no_authorization(server):
    make_client(server).chat(HELLO)
    assert "Authorization" not in server.requests[0].headers


def test_length_finish_reason(server):
    reply = make_client(server).chat(HELLO, max_tokens=1)
    assert reply.finish_reason == "length"
    assert reply.text == "Answer:"


# -- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [
    Fault("429"), Fault("500"), Fault("503"), Fault("garbage"), Fault("no_choices"),
    Fault("slow", delay=3.0), Fault("reset"), Fault("status", status=502, body="upstream down"),
], ids=lambda f: f.kind if f.kind != "status" else "502")
def test_retries_each_fault_kind_then_succeeds(server, fault, caplog):
    server.faults.extend([fault, fault])
    client = make_client(server, timeout=0.4)
    with caplog.at_level(logging.WARNING, logger="s1flow.http"):
        reply = client.chat(HELLO)
    assert reply.text.startswith("Answer: ")
    assert len(server.requests) == 3
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2


def test_gives_up_after_max_retries_naming_url_and_problem(server):
    server.fail("503", times=10)
    client = make_client(server, max_retries=2)
    with pytest.raises(APIError) as info:
        client.chat(HELLO)
    msg = str(info.value)
    assert f"{server.url}/chat/completions" in msg
    assert "HTTP 503" in msg and "3 attempt" in msg
    assert isinstance(info.value, S1FlowError)
    assert len(server.requests) == 3


def test_connection_refused_is_retried_then_reported():
    with serve() as srv:
        url = srv.url
    client = OpenAIClient(url, "m", max_retries=1, backoff=0.001, max_backoff=0.01, timeout=2)
    with pytest.raises(APIError, match="connection problem"):
        client.chat(HELLO)


def test_retry_after_is_honoured(server):
    server.fail("429", retry_after="0.6")
    client = make_client(server, backoff=0.001, max_backoff=5)
    t0 = time.monotonic()
    client.chat(HELLO)
    assert time.monotonic() - t0 >= 0.55
    assert len(server.requests) == 2


def test_retry_after_is_capped_by_max_backoff(server):
    server.fail("503", retry_after="120")
    client = make_client(server, backoff=0.001, max_backoff=0.05)
    t0 = time.monotonic()
    client.chat(HELLO)
    assert time.monotonic() - t0 < 10


def test_client_error_is_immediate(server):
    server.fail("status", status=400, body='{"error": {"message": "max_tokens is too large"}}')
    with pytest.raises(APIError) as info:
        make_client(server).chat(HELLO)
    assert info.value.status == 400
    assert "max_tokens is too large" in str(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_auth_error_names_env_var_not_key(server, monkeypatch, status):
    monkeypatch.setenv(ENV, KEY)
    server.fail("status", status=status, body=f'{{"error": "bad key Bearer {KEY}"}}')
    with pytest.raises(APIError) as info:
        make_client(server, api_key_env=ENV).chat(HELLO)
    msg = str(info.value)
    assert ENV in msg and f"HTTP {status}" in msg
    assert KEY not in msg and "<redacted>" in msg
    assert len(server.requests) == 1


def test_wrong_key_is_rejected_without_leaking_it(keyed_server, monkeypatch):
    monkeypatch.setenv("OTHER_KEY_VAR", "sk-wrong-0123456789abcdef")
    with pytest.raises(APIError) as info:
        make_client(keyed_server, api_key_env="OTHER_KEY_VAR").chat(HELLO)
    assert "OTHER_KEY_VAR" in str(info.value)
    assert "sk-wrong-0123456789abcdef" not in str(info.value)


def test_missing_or_empty_key_variable_is_a_config_error(monkeypatch):
    monkeypatch.delenv("S1FLOW_NO_SUCH_KEY", raising=False)
    with pytest.raises(ConfigError, match="S1FLOW_NO_SUCH_KEY"):
        OpenAIClient("http://localhost:1/v1", "m", api_key_env="S1FLOW_NO_SUCH_KEY")
    monkeypatch.setenv("S1FLOW_NO_SUCH_KEY", "  ")
    with pytest.raises(ConfigError, match="empty"):
        OpenAIClient("http://localhost:1/v1", "m", api_key_env="S1FLOW_NO_SUCH_KEY")


@pytest.mark.parametrize("kw", [{"base_url": "localhost:8000"}, {"concurrency": 0}, {"max_retries": -1},
                                {"timeout": 0}, {"model": ""}])
def test_bad_settings_are_config_errors(kw):
    args = {"base_url": "http://localhost:8000/v1", "model": "m", **kw}
    with pytest.raises(ConfigError):
        OpenAIClient(args.pop("base_url"), args.pop("model"), **args)


def test_key_never_in_logs_errors_cache_or_results(keyed_server, tmp_path, caplog):
    client = make_client(keyed_server, api_key_env=ENV, max_retries=2, concurrency=1)
    assert KEY not in repr(client)
    keyed_server.fail("500", body=f"internal error while handling Bearer {KEY}")
    keyed_server.fail("echo_auth")
    keyed_server.fail("503", times=3, body=f"key={KEY}")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(BatchError) as info:
            client.chat_many(items(4), cache_dir=tmp_path, purpose="teacher", progress=False)
        replies = client.chat_many(items(4), cache_dir=tmp_path, purpose="teacher", progress=False)
    assert KEY not in str(info.value) and "<redacted>" in str(info.value)
    assert KEY not in caplog.text and "<redacted>" in caplog.text
    assert "Bearer <redacted>" in "".join(r.text for r in replies.values())
    assert not any(KEY in r.text for r in replies.values())
    files = list((tmp_path / "teacher").glob("*.json"))
    assert len(files) == 4
    assert not any(KEY in f.read_text() for f in files)


# -- chat_many and its cache ---------------------------------------------------------------


def test_chat_many_caches_each_reply(server, tmp_path):
    client = make_client(server)
    out = client.chat_many(items(5), cache_dir=tmp_path, purpose="grade", progress=False, max_tokens=64)
    assert list(out) == list(items(5))
    record = json.loads((tmp_path / "grade" / "q002.json").read_text())
    assert record["key"] == "q002" and record["purpose"] == "grade"
    assert record["reply"]["text"] == out["q002"].text
    assert record["request"]["model"] == "test-model" and record["request"]["params"] == {"max_tokens": 64}
    assert len(record["fingerprint"]) == 64
    assert not list((tmp_path / "grade").glob(".*"))  # no temp files left behind
    again = client.chat_many(items(5), cache_dir=tmp_path, purpose="grade", progress=False, max_tokens=64)
    assert again == out
    assert len(server.requests) == 5


def test_killed_run_resumes_from_cache(tmp_path):
    with serve(max_successes=3) as srv:
        client = make_client(srv, max_retries=1)
        with pytest.raises(BatchError) as info:
            client.chat_many(items(7), cache_dir=tmp_path, purpose="teacher", progress=False)
    err = info.value
    assert "4 of 7 requests failed" in str(err) and "HTTP 500" in str(err)
    assert len(err.failures) == 4
    cached = sorted(p.stem for p in (tmp_path / "teacher").glob("*.json"))
    assert len(cached) == 3
    with serve() as srv:
        out = make_client(srv).chat_many(items(7), cache_dir=tmp_path, purpose="teacher", progress=False)
        sent = sorted(r.body["messages"][0]["content"] for r in srv.requests)
    assert len(out) == 7
    assert len(sent) == 4
    assert sent == sorted(items(7)[k][0]["content"] for k in err.failures)


def test_fingerprint_mismatch_recomputes(server, tmp_path):
    client = make_client(server)
    client.chat_many(items(3), cache_dir=tmp_path, purpose="p", progress=False, max_tokens=64)
    assert len(server.requests) == 3
    client.chat_many(items(3), cache_dir=tmp_path, purpose="p", progress=False, max_tokens=32)
    assert len(server.requests) == 6
    changed = items(3)
    changed["q001"] = [{"role": "user", "content": "A different question"}]
    client.chat_many(changed, cache_dir=tmp_path, purpose="p", progress=False, max_tokens=32)
    assert len(server.requests) == 7
    other_model = OpenAIClient(server.url, "other-model", backoff=0.001)
    other_model.chat_many(changed, cache_dir=tmp_path, purpose="p", progress=False, max_tokens=32)
    assert len(server.requests) == 10
    (tmp_path / "p" / "q000.json").write_text("{ truncated")
    other_model.chat_many(changed, cache_dir=tmp_path, purpose="p", progress=False, max_tokens=32)
    assert len(server.requests) == 11
    # purposes have separate caches
    other_model.chat_many(changed, cache_dir=tmp_path, purpose="q", progress=False, max_tokens=32)
    assert len(server.requests) == 14


def test_chat_many_rejects_unsafe_keys(server, tmp_path):
    with pytest.raises(ValueError, match="file-name safe"):
        make_client(server).chat_many({"../evil": HELLO}, cache_dir=tmp_path, purpose="p", progress=False)
    with pytest.raises(ValueError, match="purpose"):
        make_client(server).chat_many({"a": HELLO}, cache_dir=tmp_path, purpose="a/b", progress=False)


def test_concurrency_limit_is_respected(tmp_path):
    with serve(handler_delay=0.15) as srv:
        client = make_client(srv, concurrency=3)
        client.chat_many(items(12), cache_dir=tmp_path, purpose="p", progress=False)
    assert 2 <= srv.max_in_flight <= 3


def test_client_limit_is_shared_across_threads(tmp_path):
    """Two batches through one client at once still keep at most `concurrency` requests in flight."""
    import threading

    with serve(handler_delay=0.1) as srv:
        client = make_client(srv, concurrency=2)
        threads = [threading.Thread(target=client.chat_many, args=(items(6),),
                                    kwargs={"cache_dir": tmp_path, "purpose": f"p{i}", "progress": False})
                   for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(srv.requests) == 12
    assert srv.max_in_flight <= 2


# -- the token-level completions engine -------------------------------------------------


def expected_generation(req: GenerationRequest, vocab_size: int = 64) -> tuple[list[int], str, int | None]:
    """What the toy server model produces for `req` (before the engine strips and filters)."""
    seed = (req.seed or 0) if req.temperature > 0 else 0
    stops = list(req.stop_token_ids)
    out: list[int] = []
    last = req.prompt[-1]
    for i in range(req.max_tokens):
        tok = next_token(seed, len(req.prompt) + i, last, vocab_size, stops)
        if tok in stops and len(out) < req.min_tokens:
            tok = (tok + 1 + i) % vocab_size
            while tok in stops:
                tok = (tok + 1) % vocab_size
        out.append(tok)
        last = tok
        if tok in stops:
            return out, "stop", tok
    return out, "length", None


def test_completions_engine_follows_the_protocol(server, caplog):
    engine = OpenAICompletionsEngine(make_client(server, concurrency=3), max_token_id=63)
    assert isinstance(engine, Engine) and engine.name == "openai"
    reqs = [GenerationRequest(prompt=[1, 2, 3 + i], max_tokens=40, stop_token_ids=(7, 9), min_tokens=i % 3,
                              temperature=0.7 if i % 2 else 0.0, seed=i) for i in range(10)]
    reqs.append(GenerationRequest(prompt=[5], max_tokens=0))
    gens = engine.generate(reqs)
    assert len(gens) == len(reqs)
    assert len(server.requests) == 10  # max_tokens=0 needs no request
    saw_stop = False
    for req, gen in zip(reqs, gens, strict=True):
        raw, finish, stop = expected_generation(req)
        assert gen.finish == finish and gen.stop_token == stop
        assert gen.tokens == (raw[:-1] if finish == "stop" else raw)
        assert not set(gen.tokens) & {7, 9}
        assert len(gen.tokens) <= req.max_tokens
        if finish == "stop":
            saw_stop = True
            assert len(gen.tokens) >= req.min_tokens
    assert saw_stop
    assert gens[-1].tokens == [] and gens[-1].finish == "length"
    body = next(r.body for r in server.requests if r.body["prompt"] == [1, 2, 3])
    assert body["seed"] == 0 and body["temperature"] == 0.0 and body["max_tokens"] == 40 and body["min_tokens"] == 0
    assert body["prompt"] == [1, 2, 3] and body["stop_token_ids"] == [7, 9]
    assert body["return_tokens_as_token_ids"] is True and body["skip_special_tokens"] is False
    assert body["logprobs"] == 0 and body["ignore_eos"] is True
    assert server.paths() == ["/v1/completions"] * 10


def test_completions_engine_is_deterministic_and_length_bounded(server):
    engine = OpenAICompletionsEngine(make_client(server), max_token_id=63)
    req = GenerationRequest(prompt=[4, 4], max_tokens=12, temperature=1.0, seed=11)
    first, second = engine.generate([req, req])
    assert first == second
    no_stop = engine.generate([GenerationRequest(prompt=[4, 4], max_tokens=12)])[0]
    assert no_stop.finish == "length" and len(no_stop.tokens) == 12 and no_stop.stop_token is None


def test_completions_engine_drops_ids_above_max_token_id(server, caplog):
    engine = OpenAICompletionsEngine(make_client(server), max_token_id=40)
    req = GenerationRequest(prompt=[1], max_tokens=60)
    raw, _, _ = expected_generation(req)
    assert any(t > 40 for t in raw)
    with caplog.at_level(logging.WARNING, logger="s1flow.http"):
        (gen,) = engine.generate([req])
    assert gen.tokens == [t for t in raw if t <= 40]
    assert "outside 0..40" in caplog.text


def test_completions_engine_retries_and_reports(server):
    server.fail("503")
    server.fail("reset")
    engine = OpenAICompletionsEngine(make_client(server, concurrency=1), max_token_id=63)
    gen = engine.generate([GenerationRequest(prompt=[1], max_tokens=5)])[0]
    assert len(gen.tokens) <= 5
    server.fail("status", status=400, body="prompt too long")
    with pytest.raises(APIError, match="prompt too long"):
        engine.generate([GenerationRequest(prompt=[1], max_tokens=5)])


def test_completions_engine_checks_prompts_and_max_token_id(server):
    with pytest.raises(ConfigError):
        OpenAICompletionsEngine(make_client(server))

    class Tok:
        def get_vocab_size(self, with_added_tokens: bool = True) -> int:
            return 50

    engine = OpenAICompletionsEngine(make_client(server), tokenizer=Tok())
    assert engine.max_token_id == 49
    with pytest.raises(ValueError, match="outside the tokenizer's range"):
        engine.generate([GenerationRequest(prompt=[1, 99], max_tokens=3)])
    assert server.requests == []


def test_completions_engine_needs_token_ids_back(server):
    """A server that ignores return_tokens_as_token_ids gives a clear error."""
    bad = {"choices": [{"text": "hello", "finish_reason": "length", "logprobs": None}]}
    server.fail("status", status=200, body=json.dumps(bad))
    engine = OpenAICompletionsEngine(make_client(server), max_token_id=63)
    with pytest.raises(APIError, match="vLLM"):
        engine.generate([GenerationRequest(prompt=[1], max_tokens=3)])
