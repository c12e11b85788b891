"""The FastAPI application: routes for each API shape, over one :class:`~rankwise.serve.engine.RerankEngine`.

Every failure a client can cause is a 4xx with a JSON body ``{"message": …}`` (TEI's route: ``{"error": …,
"error_type": …}``) saying what was wrong and what the limit or fix is; the service keeps serving other clients.
Server faults answer 500 with a reference to the server log, never a stack trace.

Status codes: 400 bad request (missing or mistyped field, invalid JSON or UTF-8, empty documents), 401 no API key,
403 wrong API key, 404 unknown model / route, 413 a limit passed (documents, characters, body size), 429 queue full
(``Retry-After``), 503 timed out waiting for the model (``Retry-After``), 504 timed out while being scored.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from typing import Any

import numpy as np

from rankwise.models import require
from rankwise.serve.auth import ApiKeys
from rankwise.serve.batching import Closing, QueueFull
from rankwise.serve.engine import RequestTimeout, RerankEngine, Scored, Searcher
from rankwise.serve.metrics import Metrics
from rankwise.serve.schemas import (
    CohereRerankRequest,
    RerankResponse,
    SearchRequest,
    SearchResponse,
    TeiRank,
    TeiRerankRequest,
    document_texts,
)
from rankwise.serve.settings import ServeSettings

log = logging.getLogger("rankwise.serve")

OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
ROUTES = frozenset({"/v2/rerank", "/v1/rerank", "/rerank", "/v1/search", "/v1/models", "/metrics"}) | OPEN_PATHS
TEI_PATH = "/rerank"


class ApiError(Exception):
    """A request the service refuses: status code, message for the client, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, kind: str = "validation"):
        super().__init__(message)
        self.status, self.message, self.headers, self.kind = status, message, headers or {}, kind


def error_body(path: str, message: str, kind: str = "validation") -> dict[str, Any]:
    """Cohere/Jina clients read ``message``; TEI clients read ``error`` and ``error_type``."""
    if path == TEI_PATH:
        return {"error": message, "error_type": kind}
    return {"message": message}


def create_app(settings: ServeSettings, engine: RerankEngine, *, model_id: str, searcher: Searcher | None = None,
               api_keys: ApiKeys | None = None, metrics: Metrics | None = None):
    """The ASGI app. ``engine`` is closed (after finishing what it admitted) when the app shuts down."""
    fastapi = require("fastapi", "serve", "rankwise serve")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from rankwise import __version__

    metrics = metrics or Metrics()
    names = [model_id, *[a for a in settings.aliases if a != model_id]]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        # uvicorn has finished the requests in flight by now (graceful shutdown); stop the model worker.
        engine.close(timeout=settings.timeout_s)
        if searcher is not None:
            searcher.close()

    app = fastapi.FastAPI(
        title="rankwise serve", version=__version__, lifespan=lifespan,
        description="Reranking and search over rankwise models, speaking the Cohere (v1, v2), Jina and Hugging Face "
                    "TEI rerank APIs. Send `Authorization: Bearer KEY` when the service was started with API keys.")
    app.state.engine, app.state.metrics, app.state.model_id = engine, metrics, model_id

    # --- errors -------------------------------------------------------------------------------------------------
    def error_response(request, status: int, message: str, headers=None, kind: str = "validation"):
        return JSONResponse(error_body(request.url.path, message, kind), status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return error_response(request, exc.status, exc.message, exc.headers, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc: RequestValidationError):
        return error_response(request, 400, validation_message(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}; see /docs for the API"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs for the API"
        return error_response(request, exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request, exc: Exception):
        reference = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s %s", reference, request.method, request.url.path, exc_info=exc)
        return error_response(request, 500, f"internal error (reference {reference}); the details are in the "
                                            "server's log", kind="backend")

    # --- shared steps -------------------------------------------------------------------------------------------
    def check_model(model: str | None, required: bool) -> None:
        if model is None:
            if required:
                raise ApiError(400, f"field 'model' is required; this service serves {names[0]!r}")
            return
        if model not in names:
            raise ApiError(404, f"unknown model {model!r}; this service serves {', '.join(map(repr, names))} "
                                "(GET /v1/models)", kind="not_found")

    def check_query(query: str) -> None:
        if not query.strip():
            raise ApiError(400, "query is empty: send the search query as a non-empty string")
        if len(query) > settings.max_document_chars:
            raise ApiError(413, f"the query has {len(query):,} characters, more than the limit of "
                                f"{settings.max_document_chars:,} (max_document_chars)")

    def check_documents(texts: list[str], what: str = "documents") -> None:
        if not texts:
            raise ApiError(400, f"{what} is empty: send at least one document")
        if len(texts) > settings.max_documents:
            raise ApiError(413, f"{len(texts):,} {what}: more than the limit of {settings.max_documents:,} per request "
                                "(max_documents); split them over several requests")
        for i, text in enumerate(texts):
            if len(text) > settings.max_document_chars:
                raise ApiError(413, f"{what}[{i}] has {len(text):,} characters, more than the limit of "
                                    f"{settings.max_document_chars:,} per document (max_document_chars); "
                                    "split it into passages")

    def positive(name: str, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ApiError(400, f"{name} must be a positive integer, got {value}")
        return value

    @contextlib.contextmanager
    def model_errors():
        """What can go wrong on the way through the model, as answers to the client."""
        try:
            yield
        except QueueFull as e:
            metrics.rejected.labels("queue_full").inc()
            raise ApiError(429, str(e), {"Retry-After": str(e.retry_after)}, kind="overloaded") from None
        except RequestTimeout as e:
            metrics.rejected.labels("timeout").inc()
            if e.queued:
                raise ApiError(503, f"the request waited {settings.timeout_s:g} s (timeout_s) without reaching the "
                                    "model: the service is overloaded; retry later",
                               {"Retry-After": str(e.retry_after)}, kind="overloaded") from None
            raise ApiError(504, f"scoring took longer than {settings.timeout_s:g} s (timeout_s); send fewer or "
                                "shorter documents", kind="timeout") from None
        except Closing:
            raise ApiError(503, "the service is shutting down", kind="unavailable") from None
        except (ValueError, TypeError, LookupError) as e:  # what the reranker refuses (e.g. a query too long)
            raise ApiError(400, f"the reranker refused the request: {e}") from None

    def max_tokens(value: int | None) -> int:
        return positive("max_tokens_per_doc", value) or settings.max_tokens_per_doc

    async def score(query: str, texts: list[str], max_tokens_per_doc: int | None) -> Scored:
        with model_errors():
            return await engine.rerank(query, texts, max_tokens(max_tokens_per_doc), settings.timeout_s)

    def relevance(scores: np.ndarray) -> np.ndarray:
        return scores if settings.scores == "raw" else sigmoid(scores)

    def best_first(scores: np.ndarray, top_n: int | None) -> np.ndarray:
        order = np.argsort(-scores, kind="stable")  # ties: the earlier document first
        return order[:top_n] if top_n is not None else order

    async def cohere(request: CohereRerankRequest, version: str) -> dict:
        check_model(request.model, required=version == "2")
        try:
            texts = document_texts(request.documents, request.rank_fields)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        check_query(request.query)
        check_documents(texts)
        top_n = positive("top_n", request.top_n)
        scored = await score(request.query, texts, request.max_tokens_per_doc)
        values = relevance(scored.scores)
        results = []
        for i in best_first(scored.scores, top_n).tolist():
            result = {"index": i, "relevance_score": float(values[i])}
            if request.return_documents:
                doc = request.documents[i]
                result["document"] = doc if isinstance(doc, dict) else {"text": doc}
            results.append(result)
        warnings = []
        if scored.truncated:
            warnings.append(f"{scored.truncated} document(s) were cut to max_tokens_per_doc="
                            f"{request.max_tokens_per_doc or settings.max_tokens_per_doc} tokens")
        if request.max_chunks_per_doc is not None:
            warnings.append("max_chunks_per_doc is ignored: every passage of a long document is scored")
        return {
            "id": uuid.uuid4().hex, "model": request.model or names[0], "results": results,
            "meta": {"api_version": {"version": version},
                     "billed_units": {"search_units": math.ceil(len(texts) / 100)},
                     "tokens": {"input_tokens": scored.input_tokens, "output_tokens": 0}, "warnings": warnings},
            "usage": {"total_tokens": scored.input_tokens, "prompt_tokens": scored.input_tokens},
        }

    # --- routes ---------------------------------------------------------------------------------------------------
    @app.post("/v2/rerank", response_model=RerankResponse, response_model_exclude_none=True, tags=["rerank"],
              summary="Cohere v2 rerank")
    async def rerank_v2(request: CohereRerankRequest):
        return await cohere(request, "2")

    @app.post("/v1/rerank", response_model=RerankResponse, response_model_exclude_none=True, tags=["rerank"],
              summary="Cohere v1 and Jina rerank")
    async def rerank_v1(request: CohereRerankRequest):
        return await cohere(request, "1")

    @app.post("/rerank", response_model=list[TeiRank], response_model_exclude_none=True, tags=["rerank"],
              summary="Hugging Face TEI rerank")
    async def rerank_tei(request: TeiRerankRequest):
        try:
            texts = document_texts(request.texts, None, "texts")
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        check_query(request.query)
        check_documents(texts, "texts")
        scored = await score(request.query, texts, None)
        values = scored.scores if request.raw_scores else sigmoid(scored.scores)
        return [{"index": i, "score": float(values[i]), **({"text": texts[i]} if request.return_text else {})}
                for i in best_first(scored.scores, None).tolist()]

    @app.post("/v1/search", response_model=SearchResponse, response_model_exclude_none=True, tags=["search"],
              summary="Search the loaded index, optionally reranked")
    async def search(request: SearchRequest):
        if searcher is None:
            raise ApiError(404, "this service has no index to search: start it with --index DIR", kind="not_found")
        check_query(request.query)
        top_n = positive("top_n", request.top_n)
        if top_n > settings.max_documents:
            raise ApiError(413, f"top_n={top_n:,} is more than the limit of {settings.max_documents:,} (max_documents)")
        with model_errors():
            ranking, first, scored = await searcher.search(request.query, top_n, request.rerank,
                                                           max_tokens(request.max_tokens_per_doc), settings.timeout_s)
        texts = ranking.texts or [None] * len(ranking)
        hits = [{"id": d, "score": s, "retrieval_score": first[d], "text": t}
                for d, s, t in zip(ranking.docids, ranking.scores.tolist(), texts)]
        return {"id": uuid.uuid4().hex, "query": request.query, "reranked": scored is not None, "results": hits}

    @app.get("/health", tags=["service"], summary="Liveness and what is served")
    async def health():
        return {"status": "ok", "model": names[0], "reranker": settings.reranker,
                "index": searcher is not None, "in_flight": engine.coalescer.admitted}

    @app.get("/v1/models", tags=["service"], summary="The model ids requests may name")
    async def models():
        return {"object": "list",
                "data": [{"id": n, "object": "model", "owned_by": "rankwise", "served_as": names[0]} for n in names],
                "models": [{"name": n, "endpoints": ["rerank"]} for n in names]}

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics")
    async def prometheus():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_middleware(Gate, settings=settings, api_keys=api_keys, metrics=metrics)
    if settings.cors_origins:  # added last: outermost, so preflight requests are answered before the key check
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    return app


def sigmoid(scores: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), without overflow for large negative scores."""
    from scipy.special import expit

    return expit(scores)


def validation_message(errors: list[dict]) -> str:
    """One readable line from pydantic's errors: ``field 'query' is required; top_n: Input should be …``."""
    parts = []
    for e in errors[:3]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        where = loc[0] + "".join(f"[{x}]" if x.isdigit() else f".{x}" for x in loc[1:]) if loc else ""
        kind = e.get("type", "")
        if kind == "json_invalid":
            error = (e.get("ctx") or {}).get("error", "")
            parts.append(f"the body is not valid JSON ({error} at character {loc[0] if loc else '?'})")
        elif kind == "missing":
            parts.append(f"field '{where}' is required" if where else "the body is missing: send a JSON object")
        elif not where:
            parts.append(f"the body must be a JSON object ({e.get('msg', '')})")
        else:
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


class Gate:
    """Pure ASGI middleware in front of every route: API key check, body size limit and UTF-8 check (before any
    parsing), and the request/latency metrics."""

    def __init__(self, app, settings: ServeSettings, api_keys: ApiKeys | None, metrics: Metrics):
        self.app, self.settings, self.api_keys, self.metrics = app, settings, api_keys, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        route = path if path in ROUTES else "other"
        status = {"code": 500}

        async def counting_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            refusal = self._check_key(scope)
            if refusal is None and scope["method"] in ("POST", "PUT", "PATCH"):
                body, refusal = await self._read_body(scope, receive)
                if refusal is None:
                    receive = _replay(body, receive)
            if refusal is not None:
                from fastapi.responses import JSONResponse

                code, message, headers = refusal
                kind = "authentication" if code in (401, 403) else "validation"
                await JSONResponse(error_body(path, message, kind), status_code=code, headers=headers)(
                    scope, receive, counting_send)
            else:
                await self.app(scope, receive, counting_send)
        finally:
            self.metrics.requests.labels(route, str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)

    def _check_key(self, scope):
        if self.api_keys is None or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            return None
        header = _header(scope, b"authorization")
        code = self.api_keys.check(header)
        if code == 401:
            return 401, "missing API key: send 'Authorization: Bearer KEY'", {"WWW-Authenticate": "Bearer"}
        if code == 403:
            return 403, "the API key is not valid", None
        return None

    async def _read_body(self, scope, receive):
        limit = self.settings.max_body_bytes
        too_big = (413, f"the request body is larger than the limit of {limit:,} bytes (max_body_bytes)", None)
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return b"", too_big
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", (400, "the client disconnected before sending the whole body", None)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", too_big
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            return b"", (400, f"the body is not valid UTF-8 (byte 0x{body[e.start]:02x} at position {e.start}); "
                              "send JSON encoded as UTF-8", None)
        return body, None


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


__all__ = ["ApiError", "Gate", "create_app", "error_body", "validation_message"]
