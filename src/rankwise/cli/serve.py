"""`serve`: a rerank and search service (Cohere v1/v2, Jina and TEI APIs) over FastAPI + uvicorn."""
from __future__ import annotations

import sys

from rankwise.cli.options import add_llm_options, llm_options


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="serve a reranker (and an index) over HTTP: Cohere v1/v2, Jina and TEI rerank APIs, search",
        description="Serve a reranker (and optionally an index) over HTTP, speaking the Cohere v2 (/v2/rerank), "
                    "Cohere v1 and Jina (/v1/rerank) and Hugging Face TEI (/rerank) APIs, plus /v1/search, "
                    "/health, /v1/models, /metrics and /docs. The service's flags can also be set in --config (same "
                    "names, underscores; the LLM flags go in its reranker_options); flags given here win. See "
                    "docs/serve.md.")
    p.add_argument("--config", metavar="FILE", help="settings file, TOML or JSON (keys: the flags' names)")
    p.add_argument("--reranker", action="append", metavar="NAME",
                   help="reranker name (`rankwise rerankers`; default: cross-encoder); give it twice or more for an "
                        "RRF ensemble")
    p.add_argument("--model", metavar="NAME", help="the reranker's model: hub name, local folder or offline-kit name "
                   "(default: the reranker's own); also the model id requests name")
    p.add_argument("--alias", dest="aliases", action="append", metavar="NAME",
                   help="another model id requests may name (e.g. rerank-v3.5, so existing clients work unchanged)")
    p.add_argument("--index", action="append", metavar="DIR",
                   help="for /v1/search: a saved index (rankwise retrieve --index DIR) or a BEIR folder (BM25 built at "
                        "start); give it twice or more to fuse them with RRF (hybrid)")
    p.add_argument("--rerank-depth", type=int, metavar="K", help="/v1/search with rerank: candidates reranked (100)")
    p.add_argument("--host", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, help="port (default: 8080)")
    p.add_argument("--api-key-file", metavar="FILE",
                   help="accepted API keys, one per line, plain or sha256:HEX (see --hash-key); clients send "
                        "'Authorization: Bearer KEY'")
    p.add_argument("--cors-origin", dest="cors_origins", action="append", metavar="ORIGIN",
                   help="allow browser calls from this origin (default: CORS off)")
    p.add_argument("--max-documents", type=int, metavar="N", help="documents per request (default: 1000)")
    p.add_argument("--max-document-chars", type=int, metavar="N",
                   help="characters per document and per query (default: 100000)")
    p.add_argument("--max-body-bytes", type=int, metavar="N", help="request body size (default: 16 MiB)")
    p.add_argument("--max-tokens-per-doc", type=int, metavar="N",
                   help="documents are cut to N tokens when the request does not say (default: 4096, as Cohere)")
    p.add_argument("--max-batch-pairs", type=int, metavar="N", help="(query, document) pairs per model batch (256)")
    p.add_argument("--max-wait-ms", type=float, metavar="M",
                   help="how long an idle model waits for more requests to join a batch (default: 5)")
    p.add_argument("--max-queue", type=int, metavar="N",
                   help="requests admitted at once, waiting or being scored; more are answered 429 (default: 64)")
    p.add_argument("--timeout", dest="timeout_s", type=float, metavar="S",
                   help="seconds per request: 503 if still waiting for the model, 504 if being scored (default: 60)")
    p.add_argument("--raw-scores", dest="scores", action="store_const", const="raw",
                   help="Cohere/Jina relevance_score = the reranker's raw score (default: its sigmoid, in [0, 1])")
    p.add_argument("--hash-key", action="store_true",
                   help="read an API key on standard input, print its line for --api-key-file, and exit")
    add_llm_options(p)
    p.set_defaults(func=cmd_serve)


SETTINGS = ("reranker", "model", "aliases", "index", "rerank_depth", "host", "port", "api_key_file", "cors_origins",
            "max_documents", "max_document_chars", "max_body_bytes", "max_tokens_per_doc", "max_batch_pairs",
            "max_wait_ms", "max_queue", "timeout_s", "scores")


def cmd_serve(args) -> int:
    if args.hash_key:
        from rankwise.serve.auth import hash_key

        print(hash_key(sys.stdin.read().strip()))
        return 0
    from rankwise.serve.server import serve
    from rankwise.serve.settings import ServeSettings

    settings = ServeSettings.from_sources(args.config, **{name: getattr(args, name) for name in SETTINGS})
    if args.costs:
        raise ValueError("--costs writes the cost records of a `rankwise rerank` run; the service does not write them")
    if any(name.startswith("llm:") for name in settings.reranker):
        options = {k: v for k, v in llm_options(args).items() if v is not None}
        settings.reranker_options = {**options, **settings.reranker_options}
    return serve(settings)
