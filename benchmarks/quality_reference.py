"""Write the per-query reference values that the default test run checks a quality subset against.

    python benchmarks/quality_reference.py        # ~1-2 min on 2 cores: all 43 DL19 queries x 100 candidates

The kit cross-encoder (int8 ONNX, deterministic mode) reranks the DL19 BM25 top-100; each query's nDCG@10
(trec_eval -l 2) goes to tests/data/cross_encoder_dl19_ndcg10.json. The default tests rerank 8 of these queries and
must reproduce their values; the slow test reranks all 43 and must reproduce every value. Rerun this only when a
change is meant to move the scores, and say why in the commit.
"""
from __future__ import annotations

import json
import platform

from common import REPO, SHARED_DATA

from rankwise.evaluate import evaluate
from rankwise.io import read_candidates, read_qrels
from rankwise.rerank.cross_encoder import CrossEncoderReranker

OUT = REPO / "tests" / "data" / "cross_encoder_dl19_ndcg10.json"


def main() -> None:
    queries, run = read_candidates(SHARED_DATA / "dl19" / "bm25_top100.json")
    qrels = read_qrels(SHARED_DATA / "dl19" / "qrels.txt")
    reranked = CrossEncoderReranker()(queries, run)
    result = evaluate(reranked, qrels, ["ndcg_cut_10"], relevance_level=2)
    payload = {
        "what": "kit cross-encoder/ms-marco-MiniLM-L-12-v2 (int8 ONNX, deterministic) over the DL19 BM25 top-100; "
                "nDCG@10 with trec_eval -l 2",
        "command": "python benchmarks/quality_reference.py",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "mean": round(result["ndcg_cut_10"], 6),
        "per_query": {qid: round(v, 6) for qid, v in sorted(result.per_query["ndcg_cut_10"].items())},
    }
    OUT.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"nDCG@10 {payload['mean']:.4f} over {len(payload['per_query'])} queries -> {OUT}")


if __name__ == "__main__":
    main()
