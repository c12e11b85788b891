"""First-stage retrieval: BM25 (on bm25s) and the tokenizer it shares with the BM25 reranker."""
from rankwise.retrieve.bm25 import BM25Retriever
from rankwise.retrieve.tokenize import DEFAULT_TOKEN_PATTERN, Tokenizer, cjk_bigrams, has_cjk

__all__ = ["BM25Retriever", "Tokenizer", "DEFAULT_TOKEN_PATTERN", "cjk_bigrams", "has_cjk"]
