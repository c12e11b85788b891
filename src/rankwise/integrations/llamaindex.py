"""A LlamaIndex node postprocessor that reranks with a rankwise reranker, in process.

    from rankwise.integrations.llamaindex import RankwiseRerank
    postprocessor = RankwiseRerank(reranker="cross-encoder", top_n=3)
    nodes = postprocessor.postprocess_nodes(nodes, query_str="what do zebras eat")
    # or: index.as_query_engine(similarity_top_k=20, node_postprocessors=[postprocessor])

Nodes are read as ``node.get_content(metadata_mode=MetadataMode.EMBED)`` (what LlamaIndex's CohereRerank sends), and
each returned ``NodeWithScore`` carries the reranker's score. Needs the ``llamaindex`` extra (llama-index-core).
"""
from __future__ import annotations

from typing import Any, List, Optional

from rankwise.integrations import best_first, resolve_reranker
from rankwise.models import require

require("llama_index.core", "llamaindex", "the LlamaIndex adapter")

from llama_index.core.bridge.pydantic import Field, PrivateAttr  # noqa: E402
from llama_index.core.postprocessor.types import BaseNodePostprocessor  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle  # noqa: E402


class RankwiseRerank(BaseNodePostprocessor):
    """Rerank nodes with a rankwise reranker (a name, with options, or a reranker object); keep the best ``top_n``."""

    top_n: int = Field(default=2, description="nodes returned")
    _reranker: Any = PrivateAttr()

    def __init__(self, reranker: Any = "cross-encoder", top_n: int = 2, **reranker_options: Any):
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be a positive integer, got {top_n!r}")
        super().__init__(top_n=top_n)
        self._reranker = resolve_reranker(reranker, reranker_options)

    @classmethod
    def class_name(cls) -> str:
        return "RankwiseRerank"

    def _postprocess_nodes(self, nodes: List[NodeWithScore],
                           query_bundle: Optional[QueryBundle] = None) -> List[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("RankwiseRerank needs the query: call postprocess_nodes(nodes, query_str=...)")
        texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        return [NodeWithScore(node=nodes[i].node, score=score)
                for i, score in best_first(self._reranker, query_bundle.query_str, texts, self.top_n)]


__all__ = ["RankwiseRerank"]
