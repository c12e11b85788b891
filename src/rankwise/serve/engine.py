"""What the service computes, whatever API shape a request came in: a reranker behind the coalescing queue
(:class:`RerankEngine`), and first-stage search over loaded indexes, optionally reranked (:class:`Searcher`).

Both are thin layers over the library: the reranker is any :class:`rankwise.pipeline.Stage` that reranks (built by
:func:`build_reranker` from :func:`rankwise.rerank.get_reranker`), called over each batch's requests as separate
queries; the indexes are what :meth:`BM25Retriever.save` (or the dense / SPLADE / ColBERT ``save``) wrote, or a
BEIR folder indexed with BM25 at start-up.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rankwise.pipeline import score_texts
from rankwise.serve.batching import Coalescer
from rankwise.serve.settings import ServeSettings
from rankwise.types import Query, Ranking

CROSS_ENCODER = "cross-encoder"
WORD = re.compile(r"\S+")  # a token for rerankers without a tokenizer


def build_reranker(settings: ServeSettings):
    """The reranker (or RRF ensemble of rerankers) the settings name: registry names (``cross-encoder`` with
    ``model``) or model names and folders, whose family is read from the model's files (as ``rankwise rerank``).

    A cross-encoder is served with ``long_documents="maxp"`` unless the options say otherwise: a document longer
    than the model's window scores as its best passage, as Cohere's rerank scores long documents by their best chunk.
    """
    from rankwise.models import kit_model
    from rankwise.rerank import RERANKERS, get_reranker, reranker_for_model

    rerankers = []
    for name in settings.reranker:
        family, model = name, settings.model
        if name not in RERANKERS and model is None and ("/" in name or Path(name).expanduser().exists()
                                                        or kit_model(name) is not None):
            family, model = reranker_for_model(name), name
        options = {**({"long_documents": "maxp"} if family == CROSS_ENCODER else {}), **settings.reranker_options}
        try:
            rerankers.append(get_reranker(family, model=model, **options))
        except TypeError as e:  # an option this reranker does not take
            raise ValueError(f"reranker {name!r} cannot take the options {sorted(options)}: {e}") from None
    if len(rerankers) == 1:
        return rerankers[0]
    from rankwise.fuse import ensemble

    return ensemble(rerankers, "rrf")


def model_name(settings: ServeSettings, reranker) -> str:
    """The model id the service answers to: ``--model``, else the reranker's model, else the reranker's name."""
    if settings.model:
        return settings.model
    if len(settings.reranker) == 1:
        return str(getattr(reranker, "model_name", None) or settings.reranker[0])
    return "+".join(settings.reranker)


@dataclass
class Scored:
    """One request's result: the reranker's scores in document order, tokens read, documents cut."""

    scores: np.ndarray
    input_tokens: int
    truncated: int


class RerankEngine:
    """A reranker behind a :class:`Coalescer`: ``await engine.rerank(query, texts)`` from any number of clients."""

    def __init__(self, reranker, settings: ServeSettings, metrics=None):
        self.reranker = reranker
        self.settings = settings
        # The model's own tokenizer (a `tokenizers.Tokenizer`) counts and cuts document tokens when there is one.
        tokenizer = getattr(reranker, "tokenizer", None)
        self.tokenizer = tokenizer if hasattr(tokenizer, "encode_batch") else None
        self.coalescer = Coalescer(self._score, max_batch_pairs=settings.max_batch_pairs,
                                   max_wait_s=settings.max_wait_ms / 1000, max_queue=settings.max_queue,
                                   metrics=metrics)

    def _score(self, payloads: Sequence[tuple[str, list[str]]]) -> list[np.ndarray]:
        """Scores of each request's documents: the batch's requests are the queries of one reranker call."""
        return score_texts(self.reranker, payloads)

    def prepare(self, query: str, texts: list[str], max_tokens: int) -> tuple[list[str], int, int]:
        """Documents cut to ``max_tokens`` tokens (the model's tokenizer, else white-space words), the tokens of
        query and documents as the model reads them (the query once per document), and how many were cut."""
        if self.tokenizer is not None:
            encodings = self.tokenizer.encode_batch([query, *texts], add_special_tokens=False)
            query_tokens, lengths, cut = len(encodings[0].ids), [], []
            for text, enc in zip(texts, encodings[1:]):
                if len(enc.ids) > max_tokens:
                    cut.append(text[: enc.offsets[max_tokens - 1][1]])
                    lengths.append(max_tokens)
                else:
                    cut.append(text)
                    lengths.append(len(enc.ids))
        else:
            query_tokens, lengths, cut = len(query.split()), [], []
            for text in texts:
                words = [m.end() for m in WORD.finditer(text)]
                cut.append(text[: words[max_tokens - 1]] if len(words) > max_tokens else text)
                lengths.append(min(len(words), max_tokens))
        truncated = sum(a is not b for a, b in zip(cut, texts))
        return cut, query_tokens * len(texts) + sum(lengths), truncated

    async def rerank(self, query: str, texts: list[str], max_tokens: int, timeout: float) -> Scored:
        """The reranker's scores of ``texts`` for ``query`` (raises QueueFull, TimeoutError, the model's errors)."""
        texts, tokens, truncated = await asyncio.to_thread(self.prepare, query, texts, max_tokens)
        job = self.coalescer.submit((query, texts), len(texts))
        try:
            scores = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job.future)), timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout(queued=self.coalescer.cancel(job), retry_after=self.coalescer.retry_after()) \
                from None
        return Scored(scores, tokens, truncated)

    def close(self, timeout: float | None = None) -> bool:
        return self.coalescer.close(timeout)


class RequestTimeout(Exception):
    """A request ran out of time: ``queued`` when it never reached the model (503), else while scored (504)."""

    def __init__(self, queued: bool, retry_after: int):
        super().__init__("queued" if queued else "scoring")
        self.queued, self.retry_after = queued, retry_after


# --- search -------------------------------------------------------------------------------------------------------
def load_index(path: str | Path):
    """A retriever from a folder: a saved rankwise index (BM25, dense, SPLADE, ColBERT; the kind is read from its
    ``rankwise.json``), or a BEIR folder (``corpus.jsonl``), indexed with BM25 here."""
    from rankwise.retrieve import BM25Retriever, DenseRetriever, SpladeRetriever

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"--index {path}: no such folder (give a saved rankwise index or a BEIR folder)")
    meta = path / "rankwise.json"
    if meta.is_file():
        kind = json.loads(meta.read_text(encoding="utf-8")).get("format")
        loaders = {"rankwise.bm25": BM25Retriever.load, "rankwise.dense": DenseRetriever.load,
                   "rankwise.splade": SpladeRetriever.load}
        if kind == "rankwise.colbert-exact":
            from rankwise.retrieve.colbert import ColBERTRetriever

            return ColBERTRetriever.load(path)
        if kind not in loaders:
            raise ValueError(f"{meta}: unknown index format {kind!r}; known: {', '.join(loaders)}, "
                             "rankwise.colbert-exact")
        return loaders[kind](path)
    if (path / "corpus.jsonl").is_file() or (path / "corpus.jsonl.gz").is_file():
        from rankwise.io.beir import read_corpus_jsonl

        corpus_file = path / "corpus.jsonl" if (path / "corpus.jsonl").is_file() else path / "corpus.jsonl.gz"
        return BM25Retriever().index(read_corpus_jsonl(corpus_file))
    raise ValueError(f"--index {path}: neither a saved rankwise index (no rankwise.json) nor a BEIR folder "
                     "(no corpus.jsonl); save one with `rankwise retrieve DATASET --index DIR -o run`")


class Searcher:
    """First-stage retrieval over one index, or several fused with RRF (hybrid), then optionally the reranker."""

    def __init__(self, retrievers: list, engine: RerankEngine | None, rerank_depth: int):
        if not retrievers:
            raise ValueError("no index to search")
        self.retrievers, self.engine, self.rerank_depth = list(retrievers), engine, rerank_depth
        # Retrievers are not promised to be thread-safe: searches run one at a time, off the event loop.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rankwise-search")

    def retrieve(self, query: str, k: int) -> Ranking:
        q = [Query("q", query)]
        runs = [r.search(q, k=k) for r in self.retrievers]
        if len(runs) == 1:
            return runs[0].get("q") or Ranking("q", [], [])
        from rankwise.fuse import fuse_runs

        return fuse_runs(runs, "rrf", top=k, queries=["q"])["q"]

    async def search(self, query: str, top_n: int, rerank: bool, max_tokens: int, timeout: float):
        """``(ranking, retrieval scores by docid, Scored or None)``; the ranking is best first, at most top_n."""
        loop = asyncio.get_running_loop()
        depth = max(top_n, self.rerank_depth) if rerank else top_n
        ranking = await loop.run_in_executor(self._executor, self.retrieve, query, depth)
        first = dict(zip(ranking.docids, ranking.scores.tolist()))
        if not rerank or not len(ranking):
            return ranking.top(top_n), first, None
        if ranking.texts is None:
            raise ValueError("the index holds no document texts, so its results cannot be reranked; search "
                             "without rerank, or rebuild the index from a corpus")
        scored = await self.engine.rerank(query, list(ranking.texts), max_tokens, timeout)
        reranked = Ranking("q", ranking.docids, scored.scores, ranking.texts)
        return reranked.top(top_n), first, scored

    def close(self) -> None:
        self._executor.shutdown(wait=False)


__all__ = ["RerankEngine", "RequestTimeout", "Scored", "Searcher", "build_reranker", "load_index", "model_name"]
