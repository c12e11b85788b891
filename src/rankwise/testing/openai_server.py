"""A small OpenAI-compatible server for a local transformers model, for tests and demos (not for production).

    python -m rankwise.testing.openai_server [MODEL] [--host 127.0.0.1] [--port 8000]

Serves ``GET /v1/models``, ``POST /v1/chat/completions`` (``max_tokens``/``max_completion_tokens``, ``stop``,
``logprobs`` + ``top_logprobs``, and vLLM's ``continue_final_message`` to continue an assistant prefix) and
``POST /v1/completions`` (``max_tokens`` including 0, ``echo``, ``logprobs`` as an integer, ``stop``), with ``usage``
in every answer. Greedy decoding only; requests are served one at a time (a lock around the model). Standard library
only (``http.server``).

For fault tests, :class:`OpenAIServer` takes ``faults`` — HTTP status codes answered, in order, to the next POST
requests — ``delay_s``, a pause before each answer, and ``logprobs=False`` to act as a server that offers none.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Sequence

from rankwise.rerank.llm.backends import Prompt
from rankwise.rerank.llm.local import DEFAULT_MODEL, LocalLLM


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class OpenAIServer:
    """Serve ``llm`` over the OpenAI protocol on ``host:port`` (port 0 = a free port) in a background thread.

    >>> with OpenAIServer(LocalLLM()) as server:     # doctest: +SKIP
    ...     engine = HttpLLM(server.url)
    """

    def __init__(self, llm: LocalLLM, host: str = "127.0.0.1", port: int = 0, *, model_name: str | None = None,
                 faults: Sequence[int] = (), delay_s: float = 0.0, logprobs: bool = True):
        self.llm = llm
        self.logprobs = bool(logprobs)
        self.model_name = model_name or llm.name
        self.faults = list(faults)
        self.delay_s = float(delay_s)
        self.lock = threading.Lock()  # bookkeeping
        self.model_lock = threading.Lock()  # one request at a time through the model
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0  # the most POST requests seen at once (tests check a client's concurrency limit)
        handler = type("Handler", (_Handler,), {"app": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "OpenAIServer":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="openai-server", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- endpoints -----------------------------------------------------------------------------------------------
    def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.model_name, "object": "model", "owned_by": "rankwise",
                                            "max_model_len": self.llm.context_length}]}

    def _check_model(self, body: dict) -> None:
        model = body.get("model")
        if model is not None and model != self.model_name:
            raise BadRequest(f"The model `{model}` does not exist; this server serves {self.model_name!r}", 404)

    def _token(self, token_id: int) -> dict:
        text = self.llm.tokenizer.decode([token_id])
        return {"token": text, "bytes": list(text.encode("utf-8"))}

    def _fits(self, n_prompt: int, max_tokens: int) -> None:
        if n_prompt + max_tokens > self.llm.context_length:
            raise BadRequest(f"This model's maximum context length is {self.llm.context_length} tokens; the request "
                             f"has {n_prompt} prompt tokens and asks for {max_tokens} more")

    def _finish(self, new: list[int], stop: Sequence[str]) -> tuple[str, str]:
        ended = bool(new) and new[-1] in self.llm.eos_ids
        text = self.llm.tokenizer.decode([t for t in new if t not in self.llm.eos_ids], skip_special_tokens=True)
        for s in stop:
            if s and s in text:
                return text[: text.index(s)], "stop"
        return text, "stop" if ended else "length"

    def chat(self, body: dict) -> dict:
        self._check_model(body)
        raw = body.get("messages")
        if not isinstance(raw, list) or not raw:
            raise BadRequest("'messages' must be a non-empty list")
        messages = []
        for m in raw:
            content = m.get("content")
            if isinstance(content, list):  # content parts
                content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
            messages.append((str(m.get("role")), str(content or "")))
        prefix = ""
        if body.get("continue_final_message") and messages[-1][0] == "assistant":
            prefix = messages.pop()[1]
        prompt = Prompt.chat(messages, prefix=prefix)
        ids = self.llm.prompt_ids(prompt)
        max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 256)
        self._fits(len(ids), max_tokens)
        want = bool(body.get("logprobs")) and self.logprobs
        top_k = int(body.get("top_logprobs") or 0) if want else 0
        new, tops, chosen = self.llm.generate_ids(ids, max_tokens, top_k=top_k)
        text, finish = self._finish(new, _as_list(body.get("stop")))
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        if want:
            content = []
            for k, token in enumerate(new):
                entry = {**self._token(token), "logprob": chosen[k]}
                entry["top_logprobs"] = [{**self._token(t), "logprob": v} for t, v in (tops[k] if top_k else [])]
                content.append(entry)
            choice["logprobs"] = {"content": content}
        return {"id": f"chatcmpl-{self.requests}", "object": "chat.completion", "created": int(time.time()),
                "model": self.model_name, "choices": [choice], "usage": _usage(len(ids), len(new))}

    def completion(self, body: dict) -> dict:
        self._check_model(body)
        text = body.get("prompt")
        if isinstance(text, list) and len(text) == 1:
            text = text[0]
        if not isinstance(text, str):
            raise BadRequest("'prompt' must be a string (one prompt per request)")
        tok = self.llm.tokenizer
        enc = tok(text, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        max_tokens = int(body.get("max_tokens", 16))
        self._fits(len(ids), max_tokens)
        echo = bool(body.get("echo"))
        logprobs = body.get("logprobs") if self.logprobs else None
        top_k = int(logprobs) if logprobs else 0
        new, tops, chosen = self.llm.generate_ids(ids, max_tokens, top_k=top_k) if max_tokens > 0 else ([], [], [])
        generated, finish = self._finish(new, _as_list(body.get("stop")))
        choice = {"index": 0, "text": (text if echo else "") + generated, "finish_reason": finish}
        if logprobs is not None:
            tokens, values, top, where = [], [], [], []
            if echo:
                end = 0
                for token_id, value, (a, b) in zip(ids, self.llm.sequence_logprobs(ids), offsets):
                    tokens.append(tok.decode([token_id]))
                    values.append(value)
                    top.append(None)
                    where.append(end)  # a token starts where the previous one ended (its leading space included)
                    end = max(end, b)
            position = len(text) if echo else 0
            for k, token_id in enumerate(new):
                piece = tok.decode([token_id])
                tokens.append(piece)
                values.append(chosen[k])
                top.append({tok.decode([t]): v for t, v in tops[k]} if top_k else None)
                where.append(position)
                position += len(piece)
            choice["logprobs"] = {"tokens": tokens, "token_logprobs": values, "top_logprobs": top,
                                  "text_offset": where}
        return {"id": f"cmpl-{self.requests}", "object": "text_completion", "created": int(time.time()),
                "model": self.model_name, "choices": [choice], "usage": _usage(len(ids), len(new))}


class _Handler(BaseHTTPRequestHandler):
    app: OpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: tests and demos read their own output
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, self.app.models())
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        app = self.app
        with app.lock:
            app.requests += 1
            app.in_flight += 1
            app.max_in_flight = max(app.max_in_flight, app.in_flight)
            fault = app.faults.pop(0) if app.faults else None
        try:
            self._answer(raw, fault)
        finally:
            with app.lock:
                app.in_flight -= 1

    def _answer(self, raw: bytes, fault: int | None) -> None:
        app = self.app
        if app.delay_s:
            time.sleep(app.delay_s)
        if fault is not None:
            self._error(fault, f"injected fault {fault}")
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise BadRequest("the request body must be a JSON object")
            route = self.path.rstrip("/")
            if route == "/v1/chat/completions":
                handler = app.chat
            elif route == "/v1/completions":
                handler = app.completion
            else:
                raise BadRequest(f"no route {self.path}", 404)
            with app.model_lock:
                answer = handler(body)
        except BadRequest as e:
            self._error(e.status, str(e))
            return
        except json.JSONDecodeError as e:
            self._error(400, f"invalid JSON: {e}")
            return
        except Exception as e:  # noqa: BLE001 - a server answers 500, it does not die
            self._error(500, f"{type(e).__name__}: {e}")
            return
        self._send(200, answer)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _as_list(stop) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [str(s) for s in stop]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rankwise.testing.openai_server",
                                     description="Serve a local transformers model over the OpenAI protocol.")
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL,
                        help=f"model name or path (default: {DEFAULT_MODEL})")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", help="cpu, cuda… (default: CUDA when available)")
    args = parser.parse_args(argv)
    server = OpenAIServer(LocalLLM(args.model, device=args.device), args.host, args.port)
    print(f"serving {server.model_name} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
