"""A client for OpenAI-compatible HTTP servers, and a token-level engine over vLLM's server.

:class:`OpenAIClient` talks to any server that speaks the OpenAI chat-completions API
(OpenAI, DeepSeek, Anthropic's compatibility layer, a local ``vllm serve``). It retries
what is worth retrying (429, 5xx, timeouts, dropped connections, bodies that are not a
completion) with exponential backoff and jitter, honours ``Retry-After``, and fails at
once on other 4xx answers. :meth:`OpenAIClient.chat_many` runs many chats concurrently
with a per-key disk cache, so a killed run resumes where it stopped.

:class:`OpenAICompletionsEngine` implements the token-level :class:`~s1flow.engines.base.Engine`
protocol over ``POST {base_url}/completions`` using vLLM's extensions (token-id prompts,
``stop_token_ids``, ``min_tokens``, ``return_tokens_as_token_ids``). vLLM samples with a
per-request seed, not per position, so a continuation is reproducible but not
token-identical to an uninterrupted run (the transformers backend is).

The API key lives in an environment variable whose *name* the config gives. It never
appears in logs, exception messages, cache files or results: every message and every
reply is passed through a redactor before it leaves this module.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import logging
import os
import random
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from s1flow.engines.base import Generation, GenerationRequest, check_prompt_ids
from s1flow.errors import ConfigError, S1FlowError
from s1flow.io import write_json

log = logging.getLogger("s1flow.http")

REDACTED = "<redacted>"
#: Keys shorter than this are only redacted from our own messages, not from model replies
#: (a one-letter local ``--api-key`` would otherwise mangle every reply).
MIN_REDACT_IN_REPLY = 8
CACHE_VERSION = 1
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")
_TOKEN_ID = re.compile(r"^token_id:(-?\d+)$")


class APIError(S1FlowError):
    """A request to an OpenAI-compatible server failed (permanently, or after every retry)."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.url = url
        self.status = status
        self.retryable = retryable


class BatchError(APIError):
    """Some requests of a :meth:`OpenAIClient.chat_many` batch failed; the others are cached."""

    def __init__(self, message: str, *, failures: Mapping[str, str]):
        super().__init__(message)
        self.failures = dict(failures)


@dataclass(frozen=True)
class ChatReply:
    """One chat completion: the answer text, the reasoning when the server returns it separately."""

    text: str
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChatReply:
        if not isinstance(d, Mapping) or not isinstance(d.get("text"), str):
            raise ValueError("not a ChatReply record (needs a string 'text')")
        reasoning = d.get("reasoning")
        usage = d.get("usage") or {}
        return cls(text=d["text"], reasoning=reasoning if isinstance(reasoning, str) else None,
                   finish_reason=d.get("finish_reason"), usage=dict(usage) if isinstance(usage, Mapping) else {})


class _Retryable(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, problem: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after
        self.status = status


class OpenAIClient:
    """A thread-safe client for an OpenAI-compatible server.

    ``base_url`` includes the API prefix (``https://api.openai.com/v1``,
    ``http://localhost:8000/v1``). ``api_key_env`` names the environment variable holding
    the key (``None``: send no ``Authorization`` header, e.g. a local vLLM). A request is
    tried ``1 + max_retries`` times; the wait before retry ``i`` is
    ``min(max_backoff, backoff * 2**i)`` plus up to 25 % jitter, or the server's
    ``Retry-After`` (capped at ``max_backoff``). At most ``concurrency`` requests are in
    flight at once across all threads using this client. ``extra_body`` is merged into
    every request body (e.g. ``{"top_p": 0.95}``); explicit arguments win over it.
    """

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = None, timeout: float = 120,
                 max_retries: int = 6, backoff: float = 1.0, max_backoff: float = 60, concurrency: int = 8,
                 extra_body: Mapping[str, Any] | None = None):
        parsed = urllib.parse.urlparse(str(base_url))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"base_url must be an http(s) URL such as http://localhost:8000/v1, got {base_url!r}")
        if not model or not isinstance(model, str):
            raise ConfigError(f"model must be a non-empty string, got {model!r}")
        for name, value, low in (("timeout", timeout, 0), ("backoff", backoff, 0), ("max_backoff", max_backoff, 0)):
            if not isinstance(value, int | float) or value < low or (name == "timeout" and value == 0):
                raise ConfigError(f"{name} must be a {'positive' if name == 'timeout' else 'non-negative'} "
                                  f"number, got {value!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self.base_url = str(base_url).rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})
        self._key = _read_key(api_key_env)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._rng = random.Random()

    def __repr__(self) -> str:  # never shows the key
        return (f"OpenAIClient(base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r}, concurrency={self.concurrency})")

    # -- redaction -----------------------------------------------------------------

    def redact(self, text: str) -> str:
        """`text` with the API key replaced by ``<redacted>``."""
        if self._key and isinstance(text, str) and self._key in text:
            return text.replace(self._key, REDACTED)
        return text

    def _redact_reply(self, value: Any) -> Any:
        if not self._key or len(self._key) < MIN_REDACT_IN_REPLY:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self._redact_reply(v) for v in value]
        if isinstance(value, dict):
            return {k: self._redact_reply(v) for k, v in value.items()}
        return value

    # -- transport -----------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def post_json(self, path: str, body: Mapping[str, Any]) -> dict:
        """POST `body` to ``{base_url}/{path}`` with retries; return a response holding ``choices``."""
        url = self.url(path)
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempts = self.max_retries + 1
        last = "no attempt made"
        for attempt in range(attempts):
            try:
                return self._redact_reply(self._attempt(url, data))
            except _Retryable as exc:
                last = exc.problem
                if attempt + 1 >= attempts:
                    break
                wait = self._wait(attempt, exc.retry_after)
                log.warning("POST %s: %s; retry %d/%d in %.2f s", url, last, attempt + 1, self.max_retries, wait)
                time.sleep(wait)
        raise APIError(f"POST {url} failed after {attempts} attempt(s); last problem: {last}",
                       url=url, retryable=True)

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_backoff, max(0.0, retry_after))
        base = min(self.max_backoff, self.backoff * 2**attempt)
        return min(self.max_backoff, base * (1 + 0.25 * self._rng.random()))

    def _attempt(self, url: str, data: bytes) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        with self._slots:
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                raise self._http_error(url, exc) from None
            except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise APIError(f"POST {url}: TLS certificate verification failed: {reason}", url=url) from None
                if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                    raise _Retryable(f"no answer within the {self.timeout:g} s timeout") from None
                raise _Retryable(f"connection problem ({type(reason).__name__}: {self.redact(str(reason))})") from None
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Retryable(f"the response is not valid JSON: {self._excerpt(raw)!r}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list) or not payload["choices"]:
            raise _Retryable(f"the response has no 'choices': {self._excerpt(raw)!r}")
        return payload

    def _http_error(self, url: str, exc: urllib.error.HTTPError) -> Exception:
        """The exception to raise for an HTTP error answer: retryable or final."""
        status = exc.code
        try:
            body = exc.read()
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            exc.close()
        detail = self._excerpt(body)
        if status == 429 or status >= 500 or status == 408:
            return _Retryable(f"HTTP {status}" + (f" ({detail})" if detail else ""),
                              retry_after=_retry_after(exc.headers.get("Retry-After") if exc.headers else None),
                              status=status)
        if status in (401, 403):
            where = (f"check the API key in environment variable {self.api_key_env}" if self.api_key_env else
                     "the server wants an API key: set api_key_env to the name of the environment variable holding it")
            return APIError(f"POST {url}: HTTP {status} (authentication failed); {where}"
                            + (f". Server said: {detail}" if detail else ""), url=url, status=status)
        return APIError(f"POST {url}: HTTP {status}; the server rejected the request"
                        + (f": {detail}" if detail else ""), url=url, status=status)

    def _excerpt(self, raw: bytes, limit: int = 300) -> str:
        text = raw.decode("utf-8", errors="replace").strip()
        text = self.redact(text)
        return text if len(text) <= limit else text[:limit] + "..."

    # -- chat ----------------------------------------------------------------------

    def chat_body(self, messages: Sequence[Mapping[str, Any]], *, max_tokens: int | None = None,
                  temperature: float = 0.0, seed: int | None = None,
                  stop: str | Sequence[str] | None = None) -> dict:
        """The JSON body :meth:`chat` sends."""
        _check_messages(messages)
        body: dict[str, Any] = dict(self.extra_body)
        body.update(model=self.model, messages=[dict(m) for m in messages], temperature=temperature)
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)
        if seed is not None:
            body["seed"] = int(seed)
        if stop is not None:
            body["stop"] = [stop] if isinstance(stop, str) else list(stop)
        return body

    def chat(self, messages: Sequence[Mapping[str, Any]], *, max_tokens: int | None = None,
             temperature: float = 0.0, seed: int | None = None, stop: str | Sequence[str] | None = None) -> ChatReply:
        """One chat completion (``POST {base_url}/chat/completions``)."""
        body = self.chat_body(messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop)
        payload = self.post_json("chat/completions", body)
        return self._parse_chat(payload)

    def _parse_chat(self, payload: Mapping[str, Any]) -> ChatReply:
        choice = payload["choices"][0]
        message = choice.get("message") if isinstance(choice, Mapping) else None
        if not isinstance(message, Mapping):
            raise APIError(f"POST {self.url('chat/completions')}: the reply has no choices[0].message "
                           f"(is this a chat-completions endpoint?)", url=self.url("chat/completions"))
        text = _content_text(message.get("content"))
        reasoning = None
        for name in ("reasoning_content", "reasoning"):
            value = message.get(name)
            if isinstance(value, str) and value:
                reasoning = value
                break
        usage = payload.get("usage")
        return ChatReply(text=text, reasoning=reasoning, finish_reason=choice.get("finish_reason"),
                         usage=dict(usage) if isinstance(usage, Mapping) else {})

    def fingerprint(self, messages: Sequence[Mapping[str, Any]], **chat_kwargs: Any) -> str:
        """A hash of what determines a reply: model, messages and every sampling parameter."""
        body = self.chat_body(messages, **chat_kwargs)
        canonical = json.dumps({"v": CACHE_VERSION, **body}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def chat_many(self, items: Mapping[str, Sequence[Mapping[str, Any]]], *, cache_dir: str | os.PathLike,
                  purpose: str, progress: bool = True, **chat_kwargs: Any) -> dict[str, ChatReply]:
        """Chat every ``key -> messages`` item, ``concurrency`` at a time, caching each reply on disk.

        Replies are cached one JSON file per key in ``cache_dir/<purpose>/<key>.json``, written
        atomically as each arrives, together with a fingerprint of the request. A cached reply
        whose fingerprint matches is reused without a request; a stale one is recomputed.
        If some requests fail, all the others still finish and are cached, then a
        :class:`BatchError` says how many failed and why. Returns replies in `items` order.
        """
        if not _SAFE_KEY.match(purpose or ""):
            raise ValueError(f"purpose must be a plain name (letters, digits, '._-'), got {purpose!r}")
        bad = [k for k in items if not isinstance(k, str) or not _SAFE_KEY.match(k)]
        if bad:
            raise ValueError(f"chat_many keys must be file-name safe (letters, digits, '._-'); bad key {bad[0]!r}")
        folder = Path(cache_dir) / purpose
        folder.mkdir(parents=True, exist_ok=True)
        params = {k: v for k, v in chat_kwargs.items() if v is not None}
        replies: dict[str, ChatReply] = {}
        todo: dict[str, tuple[Sequence[Mapping[str, Any]], str]] = {}
        stale = 0
        for key, messages in items.items():
            fp = self.fingerprint(messages, **chat_kwargs)
            cached, was_stale = _load_cached(folder / f"{key}.json", fp)
            stale += was_stale
            if cached is not None:
                replies[key] = cached
            else:
                todo[key] = (messages, fp)
        log.info("%s: %d of %d replies cached under %s, %d to request%s", purpose, len(replies), len(items),
                 folder, len(todo), f" ({stale} stale cache entries recomputed)" if stale else "")

        def work(key: str, messages: Sequence[Mapping[str, Any]], fp: str) -> ChatReply:
            reply = self.chat(messages, **chat_kwargs)
            record = {"key": key, "purpose": purpose, "fingerprint": fp,
                      "request": {"model": self.model, "params": params, "extra_body": self.extra_body},
                      "reply": reply.to_dict(), "created": datetime.now(UTC).isoformat(timespec="seconds")}
            write_json(record, folder / f"{key}.json")
            return reply

        failures: dict[str, str] = {}
        if todo:
            with tqdm(total=len(items), initial=len(replies), desc=purpose, unit="req", disable=not progress) as bar:
                pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"chat-{purpose}")
                try:
                    futures: dict[Future, str] = {pool.submit(work, k, m, fp): k for k, (m, fp) in todo.items()}
                    for fut in as_completed(futures):
                        key = futures[fut]
                        try:
                            replies[key] = fut.result()
                        except Exception as exc:  # collected, reported once all others finished
                            failures[key] = self.redact(str(exc)) or type(exc).__name__
                            log.error("%s: request %s failed: %s", purpose, key, failures[key])
                        bar.update(1)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
        if failures:
            first_key = next(k for k in items if k in failures)
            raise BatchError(f"{purpose}: {len(failures)} of {len(items)} requests failed; first ({first_key}): "
                             f"{failures[first_key]}. The {len(replies)} successful replies are cached under "
                             f"{folder}; rerun to retry only the failed ones", failures=failures)
        return {k: replies[k] for k in items}


class OpenAICompletionsEngine:
    """The token-level :class:`~s1flow.engines.base.Engine` over a vLLM OpenAI-compatible server.

    Each request becomes one ``POST {base_url}/completions`` whose ``prompt`` is the token
    ids, using vLLM's extensions ``stop_token_ids``, ``min_tokens``, ``ignore_eos`` (only the
    requested stop ids end generation, as the protocol says), ``skip_special_tokens: false``
    and ``return_tokens_as_token_ids`` (the generated ids come back in
    ``choices[0].logprobs.tokens`` as ``"token_id:N"``). ``max_token_id`` is given, or read
    from a tokenizer (``get_vocab_size(with_added_tokens=True) - 1``); generated ids above
    it (padding rows of the embedding) are dropped with a warning.
    """

    name = "openai"

    def __init__(self, client: OpenAIClient, *, max_token_id: int | None = None, tokenizer: Any = None,
                 eos_token_ids: Sequence[int] = ()):
        if max_token_id is None:
            if tokenizer is None:
                raise ConfigError("OpenAICompletionsEngine needs max_token_id or a tokenizer to read it from")
            max_token_id = _tokenizer_max_id(tokenizer)
        if not isinstance(max_token_id, int) or max_token_id < 0:
            raise ConfigError(f"max_token_id must be an integer >= 0, got {max_token_id!r}")
        self.client = client
        self.max_token_id = max_token_id
        self.tokenizer = tokenizer
        # the served model's generation-config EOS ids (the server ignores EOS; the controller stops there)
        self.eos_token_ids = tuple(int(t) for t in eos_token_ids)

    def request_body(self, request: GenerationRequest) -> dict:
        """The JSON body sent for `request`."""
        body: dict[str, Any] = dict(self.client.extra_body)
        body.update(model=self.client.model, prompt=[int(t) for t in request.prompt],
                    max_tokens=int(request.max_tokens), temperature=float(request.temperature),
                    stop_token_ids=[int(t) for t in request.stop_token_ids], min_tokens=int(request.min_tokens),
                    ignore_eos=True, skip_special_tokens=False, return_tokens_as_token_ids=True, logprobs=0)
        if request.seed is not None:
            body["seed"] = int(request.seed)
        return body

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate every request concurrently; results are in request order."""
        for i, r in enumerate(requests):
            check_prompt_ids(r.prompt, self.max_token_id, where=f"request {i}")
        results: list[Generation | None] = [None] * len(requests)
        errors: dict[int, BaseException] = {}
        pending = [i for i, r in enumerate(requests) if r.max_tokens > 0]
        for i, r in enumerate(requests):
            if r.max_tokens == 0:
                results[i] = Generation(tokens=[], finish="length")
        if pending:
            workers = min(self.client.concurrency, len(pending))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="completions") as pool:
                futures = {pool.submit(self._one, requests[i]): i for i in pending}
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        results[i] = fut.result()
                    except Exception as exc:
                        errors[i] = exc
        if errors:
            first = min(errors)
            exc = errors[first]
            raise APIError(f"{len(errors)} of {len(requests)} completions failed; first (request {first}): {exc}",
                           url=self.client.url("completions")) from exc
        return [g for g in results if g is not None]

    def _one(self, request: GenerationRequest) -> Generation:
        url = self.client.url("completions")
        payload = self.client.post_json("completions", self.request_body(request))
        choice = payload["choices"][0]
        if not isinstance(choice, Mapping):
            raise APIError(f"POST {url}: choices[0] is not an object", url=url)
        logprobs = choice.get("logprobs")
        raw_tokens = logprobs.get("tokens") if isinstance(logprobs, Mapping) else None
        if not isinstance(raw_tokens, list):
            raise APIError(f"POST {url}: the reply has no choices[0].logprobs.tokens; the token-level engine needs a "
                           f"vLLM server (return_tokens_as_token_ids, logprobs)", url=url)
        ids: list[int] = []
        for tok in raw_tokens:
            m = _TOKEN_ID.match(tok) if isinstance(tok, str) else None
            if m is None:
                raise APIError(f"POST {url}: token {str(tok)[:40]!r} is not 'token_id:N'; is the server vLLM with "
                               f"return_tokens_as_token_ids support?", url=url)
            ids.append(int(m.group(1)))
        finish_reason = choice.get("finish_reason")
        stop_reason = choice.get("stop_reason")
        stops = set(request.stop_token_ids)
        stop_token: int | None = None
        if finish_reason == "stop":
            if isinstance(stop_reason, int) and not isinstance(stop_reason, bool) and stop_reason in stops:
                stop_token = stop_reason
            elif ids and ids[-1] in stops:
                stop_token = ids[-1]
            if stop_token is not None and ids and ids[-1] == stop_token:
                ids.pop()
            if stop_token is None:
                log.warning("POST %s: finish_reason 'stop' without one of the requested stop ids %s "
                            "(stop_reason %r)", url, sorted(stops), stop_reason)
            finish = "stop"
        elif finish_reason == "length":
            finish = "length"
        else:
            raise APIError(f"POST {url}: unexpected finish_reason {finish_reason!r}", url=url)
        bad = [t for t in ids if t < 0 or t > self.max_token_id]
        if bad:
            log.warning("POST %s: dropped %d generated id(s) outside 0..%d: %s", url, len(bad), self.max_token_id,
                        sorted(set(bad))[:5])
            ids = [t for t in ids if 0 <= t <= self.max_token_id]
        return Generation(tokens=ids, finish=finish, stop_token=stop_token)


# -- helpers ---------------------------------------------------------------------------


def _read_key(api_key_env: str | None) -> str | None:
    if api_key_env is None:
        return None
    if not isinstance(api_key_env, str) or not api_key_env:
        raise ConfigError(f"api_key_env must be the name of an environment variable, got {api_key_env!r}")
    key = os.environ.get(api_key_env)
    if key is None:
        raise ConfigError(f"environment variable {api_key_env} (named by api_key_env) is not set; "
                          f"export it with the API key")
    key = key.strip()
    if not key:
        raise ConfigError(f"environment variable {api_key_env} (named by api_key_env) is empty")
    return key


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return str(content)


def _check_messages(messages: Sequence[Mapping[str, Any]]) -> None:
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or "content" not in m:
            raise ValueError(f"message {i} must be a dict with 'role' and 'content', got {str(m)[:80]!r}")


def _load_cached(path: Path, fingerprint: str) -> tuple[ChatReply | None, bool]:
    """(reply, stale): the cached reply when its fingerprint matches; stale when a file exists but does not."""
    if not path.is_file():
        return None, False
    try:
        with path.open(encoding="utf-8") as fh:
            record = json.load(fh)
        if record.get("fingerprint") != fingerprint:
            return None, True
        return ChatReply.from_dict(record["reply"]), False
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        log.warning("%s: unreadable cache entry (%s); recomputing", path, exc)
        return None, True


def _tokenizer_max_id(tokenizer: Any) -> int:
    get = getattr(tokenizer, "get_vocab_size", None)
    if callable(get):
        return int(get(with_added_tokens=True)) - 1
    if hasattr(tokenizer, "__len__"):  # transformers tokenizers
        return len(tokenizer) - 1
    raise ConfigError(f"cannot read the vocabulary size of {type(tokenizer).__name__}; pass max_token_id")


#: the OpenAIClient settings a config section (``judge``, ``features.teacher_api``, an engine's options) may set
CLIENT_KEYS = ("base_url", "api_key_env", "timeout", "max_retries", "backoff", "max_backoff", "concurrency",
               "extra_body")


def client_from_config(cfg: Mapping[str, Any] | None, key: str) -> OpenAIClient:
    """An OpenAI-compatible client from a config section (``judge`` or ``features.teacher_api``)."""
    if not cfg or not cfg.get("base_url") or not cfg.get("model"):
        raise ConfigError(f"config key '{key}': base_url and model of the OpenAI-compatible endpoint are required")
    return OpenAIClient(model=cfg["model"], **{k: cfg[k] for k in CLIENT_KEYS if cfg.get(k) is not None})
