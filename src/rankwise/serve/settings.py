"""What a ``rankwise serve`` process serves and its limits: one :class:`ServeSettings`, from command-line flags, a
config file (TOML or JSON, the same names as the flags), or both (flags given on the command line win).

    # serve.toml
    reranker = "cross-encoder"
    model = "cross-encoder/ms-marco-MiniLM-L-12-v2"
    aliases = ["rerank-v3.5"]          # more model names that requests may ask for
    index = ["indexes/scifact-bm25"]   # /v1/search; several folders are fused with RRF (hybrid)
    api_key_file = "keys.txt"
    max_documents = 1000
    [reranker_options]                 # keyword arguments of the reranker
    long_documents = "maxp"
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rankwise.checks import positive_int

SCORES = ("sigmoid", "raw")


@dataclass
class ServeSettings:
    """Settings of one service. Every field is also a config-file key and (dashes for underscores) a flag."""

    reranker: list[str] = field(default_factory=lambda: ["cross-encoder"])  # several: an RRF ensemble
    model: str | None = None  # the reranker's model (default: the reranker's own)
    reranker_options: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)  # other model names requests may use (e.g. "rerank-v3.5")
    index: list[str] = field(default_factory=list)  # saved index folders or BEIR folders for /v1/search
    rerank_depth: int = 100  # /v1/search with rerank: candidates retrieved, then reranked
    host: str = "127.0.0.1"
    port: int = 8080
    api_key_file: str | None = None
    cors_origins: list[str] = field(default_factory=list)  # empty: CORS off
    max_documents: int = 1000  # per request
    max_document_chars: int = 100_000  # per document (and per query)
    max_body_bytes: int = 16 * 1024 * 1024
    max_tokens_per_doc: int = 4096  # Cohere's default: longer documents are cut to this many tokens
    max_batch_pairs: int = 256  # (query, document) pairs per model batch
    max_wait_ms: float = 5.0  # how long an idle model waits for more requests to join a batch
    max_queue: int = 64  # requests admitted at once (waiting or being scored); more get 429
    timeout_s: float = 60.0  # per request: 503 when still waiting for the model, 504 when being scored
    scores: str = "sigmoid"  # Cohere/Jina relevance_score: sigmoid of the reranker's score, or "raw"

    def __post_init__(self) -> None:
        if isinstance(self.reranker, str):
            self.reranker = [self.reranker]
        for name in ("aliases", "index", "cors_origins"):
            value = getattr(self, name)
            setattr(self, name, [value] if isinstance(value, str) else list(value))
        self.validate()

    def validate(self) -> None:
        if not self.reranker or not all(isinstance(r, str) and r for r in self.reranker):
            raise ValueError(f"reranker must name at least one reranker, got {self.reranker!r}")
        if self.model is not None and len(self.reranker) > 1:
            raise ValueError("model names one reranker's model; with several rerankers (an ensemble) give each "
                             "its model in reranker_options or serve one reranker")
        if not isinstance(self.reranker_options, dict):
            raise ValueError(f"reranker_options must be a table of keyword arguments, got {self.reranker_options!r}")
        for name in ("rerank_depth", "max_documents", "max_document_chars", "max_body_bytes", "max_tokens_per_doc",
                     "max_batch_pairs", "max_queue"):
            positive_int(name, getattr(self, name))
        positive_int("port", self.port, minimum=0)
        if self.port > 65535:
            raise ValueError(f"port must be at most 65535, got {self.port}")
        for name in ("max_wait_ms", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0 or (name == "timeout_s" and value == 0):
                raise ValueError(f"{name} must be a number {'> 0' if name == 'timeout_s' else '>= 0'}, got {value!r}")
        if self.scores not in SCORES:
            raise ValueError(f"scores must be one of {', '.join(map(repr, SCORES))}, got {self.scores!r}")

    @property
    def loopback(self) -> bool:
        """Whether the service listens only on this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @classmethod
    def from_sources(cls, config: str | Path | None = None, **overrides) -> "ServeSettings":
        """Defaults, then the config file's values, then ``overrides`` (those that are not None)."""
        values = read_config(config) if config is not None else {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


FIELDS = {f.name for f in dataclasses.fields(ServeSettings)}


def read_config(path: str | Path) -> dict[str, Any]:
    """The settings in a TOML (``.toml``) or JSON file; keys are :class:`ServeSettings` fields (``-`` or ``_``).
    Relative paths in it (index, api_key_file) are taken relative to the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise OSError(e.errno, f"cannot read the config file: {e.strerror}", str(path)) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    else:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise ValueError(f"{path}: reading TOML needs Python 3.11 or newer; write the config as JSON "
                             "(a .json file with the same keys)") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML: {e}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: the config must be a table of settings, got {type(data).__name__}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in FIELDS:
            raise ValueError(f"{path}: unknown setting {key!r}; known: {', '.join(sorted(FIELDS))}")
        values[name] = value
    base = path.parent
    if "api_key_file" in values and values["api_key_file"] is not None:
        values["api_key_file"] = str(base / values["api_key_file"])
    if "index" in values:
        index = values["index"]
        values["index"] = [str(base / i) for i in ([index] if isinstance(index, str) else index)]
    return values


__all__ = ["SCORES", "ServeSettings", "read_config"]
