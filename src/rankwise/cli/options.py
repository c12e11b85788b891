"""Options and inputs shared by several subcommands."""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from rankwise.evaluate.metrics import DEFAULT_METRICS


def add_metric_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--metric", dest="metrics", nargs="+", action="extend", metavar="METRIC",
                   help="trec_eval names (ndcg_cut_10, map, recall_100, recip_rank, P_10, bpref, …) or readable "
                        f"ones (nDCG@10, MRR@10, R@100, AP); default: {' '.join(DEFAULT_METRICS)}")
    p.add_argument("-l", "--level", dest="relevance_level", type=int, default=1,
                   help="minimum relevance counted as relevant by binary measures (trec_eval -l; default 1)")
    p.add_argument("-J", "--judged-only", action="store_true", help="evaluate only judged documents (trec_eval -J)")
    p.add_argument("-M", "--depth", type=int, help="evaluate only each query's top M documents (trec_eval -M)")
    p.add_argument("-c", "--complete", action="store_true",
                   help="average over every query in the qrels, missing ones scoring 0 (trec_eval -c)")
    p.add_argument("--lenient", action="store_true", help="accept run lines with extra text after the run tag")


def add_llm_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM rerankers (--reranker llm:…; docs/llm_rerankers.md)")
    g.add_argument("--llm", metavar="MODEL_OR_URL",
                   help="a model name or path (local transformers) or an OpenAI-compatible URL such as "
                        "http://localhost:8000/v1 (default: HuggingFaceTB/SmolLM2-135M-Instruct)")
    g.add_argument("--llm-model", metavar="NAME", help="model to request from an --llm URL (default: the first listed)")
    g.add_argument("--concurrency", type=int, help="requests in flight to an --llm URL (default: 4)")
    g.add_argument("--window", type=int, help="listwise/FIRST/InsertRank window (default: 20)")
    g.add_argument("--step", type=int, help="listwise step between windows (default: half the window)")
    g.add_argument("--passes", type=int, help="listwise passes; pairwise sliding / setwise bubble passes")
    g.add_argument("--method", help="pointwise: yes-no | fine-grained | likelihood; pairwise: allpairs | heapsort | "
                                    "sliding; setwise, reasoning: heapsort | bubble")
    g.add_argument("--k", type=int, help="heapsort: top documents to extract (default: 10)")
    g.add_argument("--set-size", type=int, help="setwise: passages per prompt (default: 4)")
    g.add_argument("--mode", choices=["auto", "logits", "generate"],
                   help="pairwise/setwise: next-token logits or generated answers (default: auto)")
    g.add_argument("--template", help="a built-in prompt template name, or a JSON file holding one")
    g.add_argument("--max-passage-tokens", type=int, help="cut passages to this many tokens (default: 300)")
    g.add_argument("--score-name", metavar="NAME",
                   help="InsertRank: the first stage named before each score, e.g. BM25 (default: the candidates' "
                        "retriever when known, else 'first-stage')")
    g.add_argument("--costs", metavar="JSONL", help="also write one line per LLM call (tokens, latency, repairs)")


def llm_options(args) -> dict:
    """The reranker options of the llm:* flags that were given."""
    llm = args.llm or "HuggingFaceTB/SmolLM2-135M-Instruct"
    engine = {}
    if llm.startswith(("http://", "https://")):
        engine = {k: v for k, v in (("model", args.llm_model), ("concurrency", args.concurrency)) if v is not None}
    elif args.llm_model or args.concurrency:
        raise ValueError("--llm-model and --concurrency apply to an --llm URL, not to a local model")
    template = args.template
    if template and template.endswith(".json"):
        template = json.loads(Path(template).read_text(encoding="utf-8"))
    return dict(llm=llm, llm_options=engine or None, window=args.window, step=args.step, passes=args.passes,
                method=args.method, k=args.k, set_size=args.set_size, mode=args.mode, template=template,
                max_passage_tokens=args.max_passage_tokens, score_name=args.score_name)


def eval_options(args) -> dict:
    return dict(relevance_level=args.relevance_level, judged_only=args.judged_only, depth=args.depth,
                complete=args.complete)


def load_candidates(path: str, dataset_dir: str | None, split: str, lenient: bool = False):
    """Queries and candidates with texts, from RankGPT-style JSON or from a TREC run plus a BEIR folder."""
    from rankwise.io import FormatError, read_beir, read_candidates, read_run

    if _looks_like_json(path):
        return read_candidates(path)
    if dataset_dir is None:
        raise ValueError(f"{path} is a TREC run: pass --dataset DATASET_DIR so that query and document texts are known")
    try:
        run = read_run(path, strict=not lenient)
    except FormatError as e:
        raise FormatError(e.path, e.line, e.problem, e.fix or "CANDIDATES must be RankGPT-style JSON or a TREC run") from None
    dataset = read_beir(dataset_dir, split)
    queries = [q for q in dataset.queries if q.qid in run]
    missing = [qid for qid in run if qid not in {q.qid for q in queries}]
    if missing:
        warnings.warn(f"{len(missing)} query id(s) of {path} are not among the {split} queries of {dataset_dir} "
                      f"(e.g. {missing[0]!r}); they are not reranked")
    return queries, run.with_texts(dataset.corpus)


def _looks_like_json(path: str) -> bool:
    from rankwise.io import open_text

    with open_text(path) as f:
        head = f.read(64).lstrip()
    return head.startswith("[") or head.startswith("{")
