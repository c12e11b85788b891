"""Running the service: load the reranker (and indexes), build the app, serve it with uvicorn until SIGTERM/SIGINT.

On SIGTERM uvicorn stops accepting connections, lets the requests in flight finish (up to ``timeout_s`` plus a
margin), then the app's shutdown stops the model worker; the process exits 0. SIGINT (Ctrl-C) drains the same way
and exits 130.
"""
from __future__ import annotations

import logging
import os
import signal
import sys

from rankwise.models import require
from rankwise.serve.app import create_app
from rankwise.serve.auth import ApiKeys
from rankwise.serve.engine import (
    RerankEngine,
    Searcher,
    build_reranker,
    load_index,
    model_name,
)
from rankwise.serve.metrics import Metrics
from rankwise.serve.settings import ServeSettings


def build_app(settings: ServeSettings):
    """The app with its reranker, engine and indexes loaded (what :func:`serve` runs)."""
    require("fastapi", "serve", "rankwise serve")
    api_keys = ApiKeys.from_file(settings.api_key_file) if settings.api_key_file else None
    metrics = Metrics()
    reranker = build_reranker(settings)
    engine = RerankEngine(reranker, settings, metrics)
    try:
        searcher = Searcher([load_index(p) for p in settings.index], engine, settings.rerank_depth) \
            if settings.index else None
    except BaseException:
        engine.close(0)
        raise
    return create_app(settings, engine, model_id=model_name(settings, reranker), searcher=searcher,
                      api_keys=api_keys, metrics=metrics), api_keys


def serve(settings: ServeSettings) -> int:
    """Serve until stopped; returns the exit status."""
    uvicorn = require("uvicorn", "serve", "rankwise serve")
    os.environ.setdefault("RANKWISE_PROGRESS", "0")  # no progress bars in a service's log
    app, api_keys = build_app(settings)
    say = lambda text: print(f"rankwise serve: {text}", file=sys.stderr, flush=True)  # noqa: E731
    if not settings.loopback and api_keys is None:
        say(f"WARNING: listening on {settings.host} (not only this machine) without API keys: anyone who can reach "
            "the port can use the service; give --api-key-file")
    say(f"model {app.state.model_id!r} ({'+'.join(settings.reranker)}) on "
        f"http://{settings.host}:{settings.port}; API keys: {len(api_keys) if api_keys else 'none'}; "
        f"index: {', '.join(settings.index) or 'none'}; docs at /docs")
    logging.getLogger("rankwise.serve").setLevel(logging.INFO)
    # uvicorn drains on SIGTERM, then raises the signal again for the default action (death by signal); after a
    # clean drain the process exits 0 instead.
    signal.signal(signal.SIGTERM, _drained)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info", server_header=False,
                            timeout_graceful_shutdown=int(settings.timeout_s) + 5)
    uvicorn.Server(config).run()
    return 0


def _drained(signum, frame):
    raise SystemExit(0)


__all__ = ["build_app", "serve"]
