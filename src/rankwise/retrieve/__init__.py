"""First-stage retrieval: BM25 (on bm25s), dense bi-encoders (exact or faiss ANN search), learned sparse (SPLADE),
exact ColBERT MaxSim (:mod:`rankwise.retrieve.colbert`, imported on use: it needs the onnx or torch extra).

Hybrids are pipelines: ``rankwise.fuse.fuse([bm25, dense], "rrf")`` or ``0.3 * bm25 + 0.7 * dense``.
"""
from rankwise.retrieve.bm25 import BM25Retriever
from rankwise.retrieve.dense import DenseRetriever
from rankwise.retrieve.encoders import load_encoder
from rankwise.retrieve.splade import SpladeRetriever
from rankwise.retrieve.tokenize import (
    DEFAULT_TOKEN_PATTERN,
    Tokenizer,
    cjk_bigrams,
    has_cjk,
)

__all__ = [
    "BM25Retriever", "DenseRetriever", "SpladeRetriever", "load_encoder",
    "Tokenizer", "DEFAULT_TOKEN_PATTERN", "cjk_bigrams", "has_cjk",
]
