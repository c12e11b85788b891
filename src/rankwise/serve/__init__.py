"""``rankwise serve``: any rankwise reranker (and index) as an HTTP service speaking the APIs that RAG stacks already
call — Cohere v2 and v1, Jina, Hugging Face TEI — plus a search route, health, models and Prometheus metrics.

One module per concept:

- :mod:`~rankwise.serve.settings` — :class:`ServeSettings`: flags and config file (TOML/JSON).
- :mod:`~rankwise.serve.schemas` — the API shapes (pydantic models; OpenAPI docs at ``/docs``).
- :mod:`~rankwise.serve.batching` — request coalescing into model batches behind a bounded queue.
- :mod:`~rankwise.serve.engine` — the reranker behind the queue, and search over loaded indexes.
- :mod:`~rankwise.serve.auth` — API keys, stored hashed, compared in constant time.
- :mod:`~rankwise.serve.metrics` — Prometheus metrics.
- :mod:`~rankwise.serve.app` — the FastAPI routes, limits and error answers.
- :mod:`~rankwise.serve.server` — loading everything and running uvicorn (graceful shutdown on SIGTERM).

Needs the ``serve`` extra (FastAPI, uvicorn, prometheus-client). See docs/serve.md.
"""
from rankwise.serve.settings import ServeSettings

__all__ = ["ServeSettings"]
