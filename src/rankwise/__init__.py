"""rankwise: retrieve → rerank → evaluate, fast on a CPU and exact in its numbers."""
from rankwise import datasets
from rankwise.pipeline import Reranker, Retriever, Stage, compare
from rankwise.types import Dataset, Document, Qrels, Query, Ranking, Run

__version__ = "0.1.0"

__all__ = [
    "Dataset", "Document", "Query", "Qrels", "Ranking", "Run",
    "Stage", "Retriever", "Reranker", "compare", "datasets", "__version__",
]
