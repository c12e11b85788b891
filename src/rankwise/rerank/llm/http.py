"""An OpenAI-compatible HTTP engine: vLLM, SGLang, llama.cpp's server, Ollama, OpenAI and others.

Only the standard library is used (``urllib``), so no extra is needed. What it does:

- chat prompts go to ``/v1/chat/completions``, raw-text prompts to ``/v1/completions``; greedy (temperature 0);
- next-token log-probabilities come from ``logprobs``/``top_logprobs`` with ``max_tokens=1`` (a label outside the
  top ``top_logprobs`` gets the lowest value shown and is listed in ``LabelScores.missing``); a server that returns
  no log-probabilities raises :class:`~rankwise.rerank.llm.backends.UnsupportedRequest` naming ``mode='generate'``;
- continuation log-probabilities use ``/v1/completions`` with ``echo`` and ``logprobs`` (raw-text templates only);
- an assistant ``prefix`` is sent as a final assistant message with ``continue_final_message`` (vLLM);
- at most ``concurrency`` requests in flight; transient faults (connection errors, timeouts, 408/409/425/429/5xx)
  are retried ``retries`` times with exponential backoff (``Retry-After`` honoured, capped at 30 s); a request that
  still fails becomes an error result that the strategy records and falls back from; faults that would fail every
  call (401/403, 404) raise :class:`~rankwise.rerank.llm.backends.EngineConfigurationError` at once;
- the endpoint is checked when the engine is built (``GET /v1/models``, a few seconds at most): an unreachable
  server fails fast with a message naming the URL;
- no API key is needed; one is sent as a Bearer token when given (``api_key=`` or ``$OPENAI_API_KEY``).

Token counts come from the server's ``usage``. To cut passages to fit the context, the engine needs to count tokens
before sending: with ``tokenizer=`` (a model name or path) it counts exactly, otherwise it estimates 1 token per 3
characters (conservative for English).
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from rankwise.rerank.llm.backends import (
    LLM,
    ContinuationScores,
    EngineConfigurationError,
    Generation,
    LabelScores,
    Prompt,
    UnsupportedRequest,
    Usage,
    logsumexp,
)

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL = {401, 403, 404}
CHARS_PER_TOKEN = 3


class TransientEngineError(ConnectionError):
    """A request failed after every retry."""


def base_url(url: str) -> str:
    """``http://host:8000``, ``…/v1`` or ``…/v1/chat/completions`` → ``http://host:8000/v1``."""
    url = url.strip().rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/models"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"not an HTTP URL: {url!r} (expected e.g. http://localhost:8000/v1)")
    if parsed.path in ("", "/"):
        url += "/v1"
    return url


class HttpLLM(LLM):
    """An OpenAI-compatible server (module docs).

    Args:
        url: the server (``http://localhost:8000/v1``; ``/v1`` is added to a bare host).
        model: the model name to request (default: the first one ``/v1/models`` lists).
        concurrency: requests in flight at once.
        timeout: seconds per request; retries, backoff: transient-fault retries and the first delay (doubled each).
        api_key: sent as ``Authorization: Bearer`` when given (default: ``$OPENAI_API_KEY`` if set, else none).
        tokenizer: a model name or path whose tokenizer counts tokens exactly (or a loaded tokenizer).
        context_length: the model's context (default: ``max_model_len`` from ``/v1/models``, else 4096).
        top_logprobs: how many top tokens to ask for when scoring labels (OpenAI allows at most 20).
        connect_timeout: seconds allowed to the first check of the endpoint.
    """

    capabilities = frozenset({"generate", "labels", "continuation"})

    def __init__(self, url: str, *, model: str | None = None, concurrency: int = 4, timeout: float = 120.0,
                 retries: int = 3, backoff: float = 0.5, api_key: str | None = None, tokenizer: Any = None,
                 context_length: int | None = None, top_logprobs: int = 20, connect_timeout: float = 5.0):
        self._built_by = (HttpLLM, (url,), dict(
            model=model, concurrency=concurrency, timeout=timeout, retries=retries, backoff=backoff, api_key=api_key,
            tokenizer=tokenizer, context_length=context_length, top_logprobs=top_logprobs,
            connect_timeout=connect_timeout))
        self.url = base_url(url)
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise ValueError(f"need concurrency >= 1, retries >= 0 and timeout > 0; got {concurrency}, {retries}, "
                             f"{timeout}")
        self.concurrency, self.timeout = int(concurrency), float(timeout)
        self.retries, self.backoff = int(retries), float(backoff)
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.top_logprobs = int(top_logprobs)
        listed = self._check(connect_timeout)
        self.model = model or (listed[0]["id"] if listed else None)
        if not self.model:
            raise EngineConfigurationError(
                f"{self.url} lists no model; name the one to use: model=NAME (CLI: --llm-model NAME)")
        known = next((m for m in listed if m.get("id") == self.model), {})
        self.context_length = int(context_length or known.get("max_model_len") or 4096)
        self.name = f"{self.model}@{self.url}"
        self.tokenizer = _load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
        self._logprobs: bool | None = None  # whether the server returns log-probabilities (asked on first need)

    def __repr__(self) -> str:
        return f"HttpLLM({self.url!r}, model={self.model!r})"

    def supports(self, capability: str) -> bool:
        """``labels`` is checked once with a one-token request: many servers return no log-probabilities."""
        if capability == "labels":
            if self._logprobs is None:
                path, body = self._body(Prompt.chat([("user", "Hi")]), max_tokens=1, logprobs=True, top_logprobs=1)
                try:
                    response, _, _ = self.post(path, body)
                    self._logprobs = _top_logprobs(response, path) is not None
                except TransientEngineError:
                    self._logprobs = False
            return self._logprobs
        return super().supports(capability)

    # --- transport -----------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, payload: dict | None, timeout: float) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def _check(self, connect_timeout: float) -> list[dict]:
        """Reach ``/models`` once, quickly; an unreachable server fails here, naming the URL."""
        try:
            body = self._request("GET", "/models", None, connect_timeout)
        except urllib.error.HTTPError as e:
            if e.code in (401, 403):
                raise EngineConfigurationError(f"{self.url} refused the credentials (HTTP {e.code}); pass api_key= "
                                               "or set OPENAI_API_KEY") from None
            return []  # some servers have no /models; the model name must then be given
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ConnectionError(f"LLM endpoint {self.url} is unreachable ({reason}). Is the server running, and is "
                                  "the URL right (e.g. http://localhost:8000/v1)?") from None
        return [m for m in body.get("data", []) if isinstance(m, dict) and "id" in m]

    def post(self, path: str, payload: dict) -> tuple[dict, int, float]:
        """POST with retries; returns (response, retries used, seconds)."""
        start = time.perf_counter()
        attempt = 0
        while True:
            try:
                return self._request("POST", path, payload, self.timeout), attempt, time.perf_counter() - start
            except urllib.error.HTTPError as e:
                detail = _error_detail(e)
                if e.code in FATAL:
                    raise EngineConfigurationError(
                        f"{self.url}{path} answered HTTP {e.code} for model {self.model!r}: {detail}"
                        + (" (check the URL and the model name)" if e.code == 404 else " (check api_key)")
                    ) from None
                if e.code not in RETRYABLE or attempt >= self.retries:
                    raise TransientEngineError(
                        f"{self.url}{path}: HTTP {e.code} after {attempt} retries: {detail}") from None
                delay = _retry_after(e) or self.backoff * 2 ** attempt
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as e:
                if attempt >= self.retries:
                    raise TransientEngineError(f"{self.url}{path}: {getattr(e, 'reason', e)} after {attempt} retries"
                                               ) from None
                delay = self.backoff * 2 ** attempt
            time.sleep(min(delay, 30.0))
            attempt += 1

    def _map(self, fn, items: Sequence) -> list:
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def _body(self, prompt: Prompt, **fields) -> tuple[str, dict]:
        body = {"model": self.model, "temperature": 0.0, **fields}
        if not prompt.is_chat:
            return "/completions", {**body, "prompt": prompt.text}
        messages = [{"role": r, "content": c} for r, c in prompt.messages]
        if prompt.prefix:
            messages.append({"role": "assistant", "content": prompt.prefix})
            body.update(continue_final_message=True, add_generation_prompt=False)
        return "/chat/completions", {**body, "messages": messages}

    # --- tokens --------------------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def truncate_text(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        if self.tokenizer is not None:
            offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            return text if len(offsets) <= max_tokens else text[: offsets[max_tokens - 1][1]]
        limit = max_tokens * CHARS_PER_TOKEN
        if len(text) <= limit:
            return text
        cut = text.rfind(" ", 0, limit + 1)  # end at a word boundary when one is near
        return text[: cut if cut > limit // 2 else limit]

    def prompt_tokens(self, prompt: Prompt) -> int:
        # chat markup adds a few tokens per message
        return self.count_tokens(prompt.plain()) + (4 * len(prompt.messages) if prompt.is_chat else 0)

    # --- requests ------------------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], max_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        def one(prompt: Prompt) -> Generation:
            path, body = self._body(prompt, max_tokens=int(max_tokens), **({"stop": list(stop)} if stop else {}))
            try:
                response, retries, seconds = self.post(path, body)
            except TransientEngineError as e:
                return Generation("", Usage(retries=self.retries), error=str(e))
            choice = (response.get("choices") or [{}])[0]
            text = (choice.get("message") or {}).get("content") if path == "/chat/completions" else choice.get("text")
            text = text or ""
            usage = self._usage(response, prompt, text, retries, seconds)
            return Generation(text, usage)

        return self._map(one, list(prompts))

    def _usage(self, response: dict, prompt: Prompt, text: str, retries: int, seconds: float) -> Usage:
        reported = response.get("usage") or {}
        prompt_tokens = reported.get("prompt_tokens")
        completion = reported.get("completion_tokens")
        if prompt_tokens is None:
            prompt_tokens = self.prompt_tokens(prompt)
        if completion is None:
            completion = self.count_tokens(text)
        cached = ((reported.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0
        return Usage(int(prompt_tokens), int(completion), max(int(completion), 1), seconds, int(cached), retries)

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[LabelScores]:
        def one(prompt: Prompt) -> LabelScores:
            path, body = self._body(prompt, max_tokens=1)
            if path == "/chat/completions":
                body.update(logprobs=True, top_logprobs=self.top_logprobs)
            else:
                body.update(logprobs=self.top_logprobs)
            try:
                response, retries, seconds = self.post(path, body)
            except TransientEngineError as e:
                return LabelScores({}, Usage(retries=self.retries), error=str(e))
            top = _top_logprobs(response, path)
            if top is None:
                raise UnsupportedRequest(f"{self.url} returned no log-probabilities for model {self.model!r}; use the "
                                         "strategy in generation mode (mode='generate'), or a server that offers them")
            floor = min(top.values()) if top else -math.inf
            logprobs, missing = {}, []
            for label in labels:
                matches = [lp for token, lp in top.items() if token.strip() == label]
                if matches:
                    logprobs[label] = logsumexp(matches)
                else:
                    logprobs[label] = floor
                    missing.append(label)
            choice = (response.get("choices") or [{}])[0]
            text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
            usage = self._usage(response, prompt, text, retries, seconds)
            return LabelScores(logprobs, usage, tuple(missing))

        return self._map(one, list(prompts))

    def continuation_logprobs(self, prompts: Sequence[Prompt],
                              continuations: Sequence[str]) -> list[ContinuationScores]:
        if any(p.is_chat for p in prompts):
            raise UnsupportedRequest("continuation scoring over HTTP needs a raw-text template (chat=False, like the "
                                     "'upr' template): a chat endpoint cannot echo prompt log-probabilities")

        def one(item: tuple[Prompt, str]) -> ContinuationScores:
            prompt, continuation = item
            head = prompt.text or ""
            body = {"model": self.model, "prompt": head + continuation, "max_tokens": 1, "echo": True, "logprobs": 1,
                    "temperature": 0.0}
            try:
                response, retries, seconds = self.post("/completions", body)
            except TransientEngineError as e:
                return ContinuationScores([], Usage(retries=self.retries), error=str(e))
            logprobs = ((response.get("choices") or [{}])[0]).get("logprobs") or {}
            tokens = logprobs.get("tokens")
            values = logprobs.get("token_logprobs")
            offsets = logprobs.get("text_offset")
            if not tokens or values is None or offsets is None:
                raise UnsupportedRequest(f"{self.url} does not echo prompt log-probabilities (echo + logprobs) for "
                                         f"model {self.model!r}; query likelihood needs them")
            start, end = len(head), len(head) + len(continuation)
            # the continuation's tokens: those ending after the prompt and starting before the generated text
            chosen = [v for t, v, o in zip(tokens, values, offsets) if o + len(t) > start and o < end and v is not None]
            usage = Usage(int((response.get("usage") or {}).get("prompt_tokens", len(tokens))), 0, 1, seconds,
                          retries=retries)
            return ContinuationScores([float(v) for v in chosen], usage)

        return self._map(one, list(zip(prompts, continuations)))


def _top_logprobs(response: dict, path: str) -> dict[str, float] | None:
    choice = (response.get("choices") or [{}])[0]
    logprobs = choice.get("logprobs")
    if not logprobs:
        return None
    if path == "/chat/completions":
        content = logprobs.get("content") or []
        if not content:
            return None
        entries = content[0].get("top_logprobs") or [{"token": content[0]["token"], "logprob": content[0]["logprob"]}]
        out: dict[str, float] = {}
        for e in entries:
            out[e["token"]] = max(out.get(e["token"], -math.inf), float(e["logprob"]))
        return out
    tops = logprobs.get("top_logprobs") or []
    if not tops or tops[0] is None:
        return None
    return {str(t): float(v) for t, v in tops[0].items()}


def _error_detail(e: urllib.error.HTTPError) -> str:
    try:
        body = e.read().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the body is only for the message
        body = ""
    try:
        body = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        pass
    return str(body)[:300] or e.reason


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    value = e.headers.get("Retry-After") if e.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _load_tokenizer(name: str):
    from rankwise.models import require, resolve

    transformers = require("transformers", "llm", "counting tokens for an HTTP engine")
    resolved = resolve(name, family="llm")
    path = resolved.path
    if resolved.format == "gguf":
        from pathlib import Path

        from rankwise.rerank.llm.local import gguf_to_folder

        path = gguf_to_folder(Path(resolved.file or path), name)
    return transformers.AutoTokenizer.from_pretrained(str(path))
