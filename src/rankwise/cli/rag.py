"""`rag`, `evaluate-answers` and `compare-answers`."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rankwise.cli.options import add_run_options, ray_options

DEFAULT_LLM = "HuggingFaceTB/SmolLM2-135M-Instruct"  # rankwise.rag.generator.DEFAULT_LLM (imported on use)


def register(sub) -> None:
    p = sub.add_parser("rag", help="answer a dataset's questions: retrieve (→ decompose) → rerank → generate, "
                                   "one JSONL line per question (resumable)")
    p.add_argument("dataset", metavar="DATASET_DIR", nargs="?", default="demo",
                   help="BEIR folder whose queries.jsonl carries 'answer' (a string or a list of accepted strings), "
                        "or 'demo' (default: the built-in demo collection)")
    p.add_argument("--retriever", default="bm25", choices=["bm25", "dense", "hybrid"],
                   help="bm25 (default), dense (bi-encoder), hybrid (BM25 + dense, RRF)")
    p.add_argument("--zero-shot", action="store_true", help="no retrieval: the model answers closed-book (baseline)")
    p.add_argument("--model", metavar="NAME", help="dense model for --retriever dense/hybrid "
                                                   "(default: BAAI/bge-small-en-v1.5)")
    p.add_argument("--reranker", help="rerank the candidates (see `rankwise rerankers`; default: none, or "
                                      "cross-encoder with --decompose / --sub-questions)")
    p.add_argument("--decompose", action="store_true",
                   help="question decomposition: the LLM writes sub-questions, each is retrieved for, the pools are "
                        "merged and reranked against the original question (Ammann et al. 2025)")
    p.add_argument("--sub-questions", metavar="JSONL",
                   help='decompose with sub-questions from a file, one line per question: '
                        '{"id": …, "sub_questions": ["…?", …]}')
    p.add_argument("--max-sub-questions", type=int,
                   help="the most sub-questions per question (default: 3 with --decompose; all with --sub-questions)")
    p.add_argument("--llm", metavar="MODEL_OR_URL",
                   help="a model name or path (local transformers) or an OpenAI-compatible URL "
                        f"(default: {DEFAULT_LLM})")
    p.add_argument("--llm-model", metavar="NAME", help="model to request from an --llm URL (default: the first listed)")
    p.add_argument("--concurrency", type=int, help="requests in flight to an --llm URL (default: 4)")
    p.add_argument("--top-k", type=int, default=20,
                   help="candidates retrieved per question and per sub-question (default: 20)")
    p.add_argument("--contexts", type=int, default=5, help="passages given to the model (default: 5)")
    p.add_argument("--context-tokens", type=int, default=2048, help="token budget of those passages (default: 2048)")
    p.add_argument("--max-passage-tokens", type=int, default=256,
                   help="cut passages to this many tokens (default: 256)")
    p.add_argument("--max-new-tokens", type=int, default=24, help="the longest answer generated (default: 24)")
    p.add_argument("--template", help="answer template: a built-in name (rag-cite) or a JSON file holding one")
    p.add_argument("--split", default="test", help="qrels split whose questions are answered (default: test)")
    p.add_argument("--limit", type=int, help="answer only the first N questions")
    p.add_argument("--overwrite", action="store_true",
                   help="start again instead of resuming (by default the questions ANSWERS already holds are skipped)")
    p.add_argument("--costs", metavar="JSONL", help="also write one line per LLM call (tokens, latency, errors)")
    p.add_argument("-o", "--output", required=True, metavar="ANSWERS.jsonl", help="answers to write (JSONL)")
    add_run_options(p, "questions", journal=False)
    p.add_argument("--unit-size", type=int, default=1, metavar="N",
                   help="questions per Ray task (default: 1)")
    p.set_defaults(func=cmd_rag)

    p = sub.add_parser("evaluate-answers", help="answer EM/F1/accuracy, citations and evidence metrics of ANSWERS")
    p.add_argument("answers", metavar="ANSWERS.jsonl", help="answers written by `rankwise rag`")
    p.add_argument("dataset", metavar="DATASET_DIR", help="the BEIR folder (or 'demo') the answers are for")
    p.add_argument("--split", default="test", help="qrels split (default: test)")
    p.add_argument("-m", "--metric", dest="metrics", nargs="+", action="extend", metavar="METRIC",
                   help="evidence measures, trec_eval or readable names (default: recall_5 recall_10 "
                        "recip_rank_cut_10 success_10; MRR@10 = recip_rank_cut_10, Hits@k = success_k)")
    p.add_argument("--per-query", action="store_true", help="also print each question's values")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: em, f1, accuracy, citation_precision/recall, the evidence measures "
                        "by their trec_eval names, and counts")
    p.set_defaults(func=cmd_evaluate_answers)

    p = sub.add_parser("compare-answers", help="compare RAG configurations (ANSWERS files) with paired significance "
                                               "tests")
    p.add_argument("answers", nargs="+", metavar="ANSWERS.jsonl", help="two or more ANSWERS files")
    p.add_argument("--dataset", required=True, metavar="DATASET_DIR", help="the BEIR folder (or 'demo')")
    p.add_argument("--split", default="test", help="qrels split (default: test)")
    p.add_argument("-m", "--metric", dest="metrics", nargs="+", action="extend", metavar="METRIC",
                   help="em, f1, accuracy, citation_precision, citation_recall, evidence measures (recall_10, "
                        "MRR@10…) (default: em f1)")
    p.add_argument("--baseline", metavar="ANSWERS", help="the file the others are tested against (default: the first)")
    p.add_argument("--test", default="ttest", choices=["ttest", "wilcoxon", "permutation"],
                   help="paired significance test (default: ttest)")
    p.add_argument("--correction", default="holm", choices=["holm", "bonferroni", "none"],
                   help="multiple-testing correction over all comparisons (default: holm)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default: 0.05)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--json", action="store_true", help="print values and p-values as JSON")
    p.set_defaults(func=cmd_compare_answers)


def _engine(args):
    from rankwise.rerank.llm.backends import get_llm

    llm = args.llm or DEFAULT_LLM
    options = {}
    if llm.startswith(("http://", "https://")):
        options = {k: v for k, v in (("model", args.llm_model), ("concurrency", args.concurrency)) if v is not None}
    elif args.llm_model or args.concurrency:
        raise ValueError("--llm-model and --concurrency apply to an --llm URL, not to a local model")
    return get_llm(llm, **options)


def _retriever(args, dataset):
    """The retriever `rankwise retrieve` builds with its defaults (BM25 as Pyserini, bge-small, RRF for hybrid)."""
    from rankwise.cli import build_parser
    from rankwise.cli.retrieval import build_retriever

    argv = ["retrieve", str(args.dataset), "-o", "-", "--retriever", args.retriever, "--top-k", str(args.top_k)]
    settings = build_parser().parse_args(argv + (["--model", args.model] if args.model else []))
    return build_retriever(settings, dataset)


def cmd_rag(args) -> int:
    from rankwise.datasets import load
    from rankwise.distributed.execution import DeferredReranker
    from rankwise.rag import RAG, Generator, LLMDecomposer, SuppliedDecomposer
    from rankwise.rag.evaluate import gold_answers
    from rankwise.rerank import get_reranker

    if args.zero_shot and (args.decompose or args.sub_questions or args.reranker):
        raise ValueError("--zero-shot answers without retrieval: it takes no --decompose, --sub-questions or "
                         "--reranker")
    ray = ray_options(args)
    if ray is None and args.unit_size != 1:
        raise ValueError("--unit-size sets the questions per Ray task: add --ray")
    if args.decompose and args.sub_questions:
        raise ValueError("--decompose asks the LLM for sub-questions, --sub-questions reads them: choose one")
    template = args.template
    if template and template.endswith(".json"):
        template = json.loads(Path(template).read_text(encoding="utf-8"))
    dataset = load(args.dataset, args.split)
    gold = gold_answers(dataset)
    unscored = sum(1 for q in dataset.queries if gold.get(q.qid) is None)
    if unscored:
        print(f"note: {unscored} of {len(dataset.queries)} questions carry no gold 'answer' in queries.jsonl; they are "
              "answered, and counted as unscored by evaluate-answers", file=sys.stderr)
    start = time.perf_counter()
    llm = _engine(args)
    generator = Generator(llm, template=template, contexts=args.contexts, context_tokens=args.context_tokens,
                          max_passage_tokens=args.max_passage_tokens, max_new_tokens=args.max_new_tokens)
    retriever = reranker = decomposer = None
    if not args.zero_shot:
        retriever, what = _retriever(args, dataset)
        print(f"{args.retriever}: {what}", file=sys.stderr)
        if args.sub_questions:
            decomposer = SuppliedDecomposer(args.sub_questions, max_sub_questions=args.max_sub_questions)
        elif args.decompose:
            decomposer = LLMDecomposer(llm, max_sub_questions=3 if args.max_sub_questions is None
                                       else args.max_sub_questions)
        name = args.reranker or ("cross-encoder" if decomposer is not None else None)
        if name and name != "none":  # with --ray it loads in the actors, not here
            reranker = DeferredReranker(name) if ray is not None else get_reranker(name)
    rag = RAG(generator, retriever, reranker=reranker, decomposer=decomposer, k=args.top_k)
    ready = time.perf_counter()
    answers = rag.run(dataset.queries, args.output, resume=not args.overwrite, limit=args.limit,
                      backend="local" if ray is None else "ray", ray=ray, unit_size=args.unit_size)
    elapsed = time.perf_counter() - ready
    print(f"{rag}\nanswered {len(answers.answers):,} questions in {elapsed:.1f}s (set-up {ready - start:.1f}s)"
          + (f"; {rag.skipped:,} were already in {args.output}" if rag.skipped else "")
          + f"; failed LLM calls: {generator.failures}"
          + (f"; passages truncated or dropped: {sum(generator.costs.truncated.values())}"
             if generator.costs.truncated else "")
          + (f"; questions without usable sub-questions: {decomposer.unusable}" if decomposer is not None else "")
          + f"\nwrote {args.output}; evaluate with: rankwise evaluate-answers {args.output} {args.dataset}",
          file=sys.stderr)
    logs = [generator.costs] + ([decomposer.costs] if decomposer is not None and len(decomposer.costs) else [])
    for log in logs:
        print(log.table(), file=sys.stderr)
    if args.costs:
        with open(args.costs, "w", encoding="utf-8") as f:
            for log in logs:
                for record in log.to_dict()["records"]:
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 0


def cmd_evaluate_answers(args) -> int:
    from rankwise.rag import DEFAULT_EVIDENCE_METRICS, evaluate_answers

    result = evaluate_answers(args.answers, args.dataset, split=args.split,
                              evidence_metrics=args.metrics or DEFAULT_EVIDENCE_METRICS)
    if args.json:
        print(json.dumps(result.to_dict(per_query=args.per_query)))
    else:
        print(result.to_text(per_query=args.per_query), end="")
    return 0


def cmd_compare_answers(args) -> int:
    from rankwise.rag import compare_answers

    paths = list(dict.fromkeys(([args.baseline] if args.baseline else []) + args.answers))
    if len(paths) < 2:
        raise ValueError("compare-answers needs at least two ANSWERS files")
    names = [Path(p).name for p in paths]
    if len(set(names)) != len(names):
        names = paths
    table = compare_answers(dict(zip(names, paths)), args.dataset, args.metrics or ["em", "f1"], split=args.split,
                            test=args.test, correction=None if args.correction == "none" else args.correction,
                            alpha=args.alpha)
    if args.json:
        print(json.dumps(table.to_dict(), indent=1))
    else:
        print(table.to_markdown() if args.markdown else table)
    return 0
