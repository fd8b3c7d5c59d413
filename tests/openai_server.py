"""A real, deterministic, scriptably misbehaving OpenAI-compatible HTTP server for tests.

``with serve() as server:`` starts a :class:`http.server.ThreadingHTTPServer` on
127.0.0.1 (a free port) in a thread; ``server.url`` is the base URL (``.../v1``).

It serves ``/v1/chat/completions`` with a toy "model" that understands s1's judge
prompts (grading: ``Yes`` iff the attempt contains the correct answer; domain: a code
from a keyword rule) and otherwise answers like a reasoning teacher; and
``/v1/completions`` with token-id prompts, a toy next-token function of
(seed, absolute position, last token) in the shape of vLLM's output
(``return_tokens_as_token_ids``, ``stop_reason``).

Misbehaviour is scripted: ``server.fail("429", retry_after="1")`` queues a fault that the
next request receives. Every request is recorded, with the peak number in flight, and every
request that got a completion is recorded again in ``answered``. With ``hold_after=n`` the
server answers n requests and holds every later one unanswered until it stops (a slow model
a client can be killed in front of).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GRADING_MARK = "You are an AI assistant for grading a science problem"
DOMAIN_MARK = "classifies questions into different subjects"

#: keyword -> MSC code, first match wins (the "domain model")
DOMAIN_KEYWORDS = (
    ("probability", "60"), ("prime", "11"), ("integer", "11"), ("divisible", "11"), ("triangle", "51"),
    ("circle", "51"), ("graph", "05"), ("matrix", "15"), ("velocity", "70"), ("force", "70"),
    ("quantum", "81"), ("electron", "81"), ("integral", "28"),
)
DEFAULT_DOMAIN = "97"

FAULT_KINDS = ("429", "500", "503", "status", "garbage", "no_choices", "slow", "reset", "echo_auth", "reply")


@dataclass
class Fault:
    """One scripted misbehaviour.

    kind: ``429`` / ``500`` / ``503`` (with optional ``retry_after`` header value), ``status``
    (any ``status`` code with ``body``), ``garbage`` (200 with a non-JSON body),
    ``no_choices`` (200 with valid JSON lacking ``choices``), ``slow`` (sleep ``delay`` s
    before answering normally), ``reset`` (drop the connection with a TCP RST),
    ``echo_auth`` (answer normally but put the Authorization header into the reply text),
    ``reply`` (a well-formed chat completion whose text is ``body``: a judge that rambles).
    """

    kind: str
    retry_after: str | None = None
    status: int | None = None
    body: str | None = None
    delay: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = field(repr=False)


class FakeOpenAIServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *, expected_key: str | None = None, handler_delay: float = 0.0, vocab_size: int = 64,
                 teacher_style: str = "reasoning_content", max_successes: int | None = None,
                 hold_after: int | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.expected_key = expected_key
        self.handler_delay = handler_delay
        self.vocab_size = vocab_size
        self.teacher_style = teacher_style  # reasoning_content | reasoning | think | plain
        self.max_successes = max_successes  # after this many good answers every request gets a 500
        self.hold_after = hold_after  # after this many admitted requests every request waits unanswered
        self.admitted = 0
        self.answered: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.requests: list[Recorded] = []
        self.successes = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def fail(self, kind: str, times: int = 1, **kw: Any) -> None:
        """Queue `times` faults of `kind` for the next requests."""
        for _ in range(times):
            self.faults.append(Fault(kind, **kw))

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def handle_error(self, request, client_address) -> None:  # quiet: faults break connections on purpose
        pass

    # -- the toy models ----------------------------------------------------------------

    def chat_reply(self, body: dict) -> dict:
        messages = body.get("messages") or []
        system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
        user = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        reasoning = None
        if GRADING_MARK in system or GRADING_MARK in user:
            attempt = _section(user, "## Attempt\n", "\n\n## Correct answer\n")
            correct = _section(user, "## Correct answer\n", None).strip()
            verdict = "Yes" if correct and correct in attempt else "No"
            content = f"The attempt is compared with the correct answer {correct!r}.\n{verdict}"
        elif DOMAIN_MARK in system or DOMAIN_MARK in user:
            question = _section(user, "## Question\n", "\n\n## Classification rubrics\n").lower()
            code = next((c for kw, c in DOMAIN_KEYWORDS if kw in question), DEFAULT_DOMAIN)
            content = f"The question is mostly about this subject.\n{code}"
        else:
            question = user.strip()
            digest = hashlib.sha256(question.encode()).hexdigest()[:6]
            reasoning = f"Let me think about: {question[:60]}. Step 1, step 2, done."
            content = f"Answer: {int(digest, 16) % 1000}"
        finish = "stop"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and len(content.split()) > max_tokens:
            content = " ".join(content.split()[:max_tokens])
            finish = "length"
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning is not None:
            if self.teacher_style in ("reasoning_content", "reasoning"):
                message[self.teacher_style] = reasoning
            elif self.teacher_style == "think":
                message["content"] = f"<think>\n{reasoning}\n</think>\n\n{content}"
        words = len(user.split())
        return {"id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": words, "completion_tokens": len(content.split()),
                          "total_tokens": words + len(content.split())}}

    def completion_reply(self, body: dict) -> dict:
        prompt = body["prompt"]
        max_tokens = int(body.get("max_tokens", 16))
        min_tokens = int(body.get("min_tokens", 0))
        stops = [int(t) for t in body.get("stop_token_ids") or []]
        seed = int(body.get("seed") or 0) if float(body.get("temperature", 0) or 0) > 0 else 0
        out: list[int] = []
        last = prompt[-1] if prompt else 0
        finish, stop_reason = "length", None
        for i in range(max_tokens):
            tok = next_token(seed, len(prompt) + i, last, self.vocab_size, stops)
            if tok in stops and len(out) < min_tokens:
                tok = (tok + 1 + i) % self.vocab_size
                while tok in stops:
                    tok = (tok + 1) % self.vocab_size
            out.append(tok)
            last = tok
            if tok in stops:
                finish, stop_reason = "stop", tok
                break
        return {"id": "cmpl-test", "object": "text_completion", "model": body.get("model"),
                "choices": [{"index": 0, "text": " ".join(map(str, out)), "finish_reason": finish,
                             "stop_reason": stop_reason,
                             "logprobs": {"tokens": [f"token_id:{t}" for t in out],
                                          "token_logprobs": [-1.0] * len(out), "top_logprobs": None,
                                          "text_offset": list(range(len(out)))}}],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(out),
                          "total_tokens": len(prompt) + len(out)}}


def next_token(seed: int, position: int, last: int, vocab_size: int, stops: list[int]) -> int:
    """The toy model: a hash of (seed, position, last token); a stop id about one time in six."""
    h = int.from_bytes(hashlib.sha256(f"{seed}/{position}/{last}".encode()).digest()[:8], "big")
    if stops and h % 6 == 0:
        return stops[(h // 6) % len(stops)]
    return h % vocab_size


def _section(text: str, start: str, end: str | None) -> str:
    i = text.find(start)
    if i < 0:
        return ""
    i += len(start)
    j = text.find(end, i) if end else -1
    return text[i:] if j < 0 else text[i:j]


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        with srv.lock:
            srv.requests.append(Recorded(self.path, dict(self.headers.items()), body, raw))
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            fault = srv.faults.popleft() if srv.faults else None
            if fault is None and srv.max_successes is not None and srv.successes >= srv.max_successes:
                fault = Fault("500")
            hold = srv.hold_after is not None and srv.admitted >= srv.hold_after
            srv.admitted += not hold
        try:
            if hold:  # never answered: the connection is dropped when the server stops
                srv.stopping.wait()
                self.close_connection = True
                return
            self._serve(body, fault)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _serve(self, body: Any, fault: Fault | None) -> None:
        srv = self.server
        if srv.handler_delay:
            srv.stopping.wait(srv.handler_delay)
        if fault is not None:
            if fault.kind == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if fault.kind == "slow":
                srv.stopping.wait(fault.delay)
            elif fault.kind in ("429", "500", "503", "status"):
                status = fault.status or int(fault.kind)
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                return self._send(status, fault.body or json.dumps({"error": {"message": f"fault {status}"}}),
                                  headers)
            elif fault.kind == "garbage":
                return self._send(200, fault.body or "<html>502 Bad Gateway</html> not json {", ctype="text/html")
            elif fault.kind == "no_choices":
                return self._send(200, json.dumps({"object": "chat.completion", "error": "overloaded"}))
        auth = self.headers.get("Authorization")
        if srv.expected_key is not None and auth != f"Bearer {srv.expected_key}":
            # as some servers do: echo what was sent
            return self._send(401, json.dumps({"error": {"message": f"Incorrect API key provided: {auth}"}}))
        path = self.path.rstrip("/")
        if not isinstance(body, dict):
            return self._send(400, json.dumps({"error": {"message": "request body must be a JSON object"}}))
        if path == "/v1/chat/completions":
            if not isinstance(body.get("messages"), list) or not body["messages"]:
                return self._send(400, json.dumps({"error": {"message": "messages is required"}}))
            reply = srv.chat_reply(body)
            if fault is not None and fault.kind == "echo_auth":
                reply["choices"][0]["message"]["content"] += f"\nYour header was {auth}"
            elif fault is not None and fault.kind == "reply":
                reply["choices"][0]["message"]["content"] = fault.body or ""
        elif path == "/v1/completions":
            prompt = body.get("prompt")
            if not isinstance(prompt, list) or not all(isinstance(t, int) for t in prompt):
                return self._send(400, json.dumps({"error": {"message": "prompt must be a list of token ids"}}))
            reply = srv.completion_reply(body)
        else:
            return self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
        with srv.lock:
            srv.successes += 1
            srv.answered.append(Recorded(self.path, dict(self.headers.items()), body, b""))
        self._send(200, json.dumps(reply))

    def _send(self, status: int, text: str, headers: dict[str, str] | None = None,
              ctype: str = "application/json") -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def serve(**kwargs: Any) -> Iterator[FakeOpenAIServer]:
    """Run a :class:`FakeOpenAIServer` in a background thread for the duration of the block."""
    server = FakeOpenAIServer(**kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
