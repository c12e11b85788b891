"""Options and inputs shared by several subcommands."""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from rankwise.errors import UserError
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


def add_test_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--test", default="ttest", choices=["ttest", "wilcoxon", "permutation"],
                   help="paired significance test (default: ttest)")
    p.add_argument("--correction", default="holm", choices=["holm", "bonferroni", "none"],
                   help="multiple-testing correction over all comparisons (default: holm)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default: 0.05)")


def test_options(args) -> dict:
    return dict(test=args.test, correction=None if args.correction == "none" else args.correction, alpha=args.alpha)


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
        template = read_json_file(template, "a prompt template (docs/llm_rerankers.md shows its fields)")
    return dict(llm=llm, llm_options=engine or None, window=args.window, step=args.step, passes=args.passes,
                method=args.method, k=args.k, set_size=args.set_size, mode=args.mode, template=template,
                max_passage_tokens=args.max_passage_tokens, score_name=args.score_name)


def add_run_options(p: argparse.ArgumentParser, unit: str, journal: bool = True) -> None:
    """--ray, --resume and friends: how a long command runs (docs/scaling.md). ``journal=False`` for a command whose
    output file is its own record of progress (``rag``)."""
    g = p.add_argument_group("running at scale and resuming (docs/scaling.md)")
    g.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                   help="run the units on Ray (pip install 'rankwise[ray]'): with no ADDRESS or 'auto', join "
                        "$RAY_ADDRESS when set, else start a local cluster; or HOST:PORT / ray://HOST:10001")
    g.add_argument("--workers", type=int, metavar="N", help="Ray actors, one model load each (default: as many as "
                   "the cluster's CPUs (GPUs with --worker-gpus) allow)")
    g.add_argument("--worker-cpus", type=float, default=1.0, metavar="N", help="CPUs each Ray actor declares "
                   "(default: 1)")
    g.add_argument("--worker-gpus", type=float, default=0.0, metavar="N", help="GPUs each Ray actor declares "
                   "(default: 0)")
    if not journal:
        return
    g.add_argument("--resume", action="store_true", help=f"continue from the journal of an interrupted run "
                   f"({unit} already done are not redone; the output is identical to an uninterrupted run)")
    g.add_argument("--journal", metavar="PATH", help="the run journal (default: OUTPUT.journal; deleted when the "
                   "output is written)")


def ray_options(args):
    from rankwise.checks import positive_int
    from rankwise.distributed import RayOptions

    if args.ray is None:
        for flag, value, default in (("--workers", args.workers, None), ("--worker-cpus", args.worker_cpus, 1.0),
                                     ("--worker-gpus", args.worker_gpus, 0.0)):
            if value != default:
                raise ValueError(f"{flag} sets up Ray workers: add --ray")
        return None
    positive_int("--workers", args.workers, optional=True)
    if args.worker_cpus <= 0 or args.worker_gpus < 0:
        raise ValueError(f"--worker-cpus must be > 0 and --worker-gpus >= 0; got {args.worker_cpus}, "
                         f"{args.worker_gpus}")
    return RayOptions(address=args.ray, workers=args.workers, num_cpus=args.worker_cpus, num_gpus=args.worker_gpus)


# Options that say how or where a run goes, not what it computes: a run resumed with other values is the same run.
RUN_CONTROL = {"func", "argv", "output", "resume", "journal", "ray", "workers", "worker_cpus", "worker_gpus", "costs",
               "cache", "index"}


def run_settings(args, files) -> dict:
    """What identifies a run for its journal: every option that can change results, and the inputs' digests."""
    from rankwise.rerank.cache import sha256_file

    settings = {k: v for k, v in sorted(vars(args).items()) if k not in RUN_CONTROL}
    for label, path in files:
        if path is not None:
            settings[f"{label} sha256"] = sha256_file(path)
    return settings


def run_info(args, stage=None, **extra) -> dict:
    """What the settings file beside a written run records (rankwise.io.runinfo): the command line, the stage
    that produced the run (its repr names model and parameters) and every option's value."""
    parameters = {k: v for k, v in vars(args).items() if k not in ("func", "argv", "command")}
    return {"command": ["rankwise", *getattr(args, "argv", [])], "stage": None if stage is None else repr(stage),
            "parameters": parameters, **extra}


def eval_options(args) -> dict:
    return dict(relevance_level=args.relevance_level, judged_only=args.judged_only, depth=args.depth,
                complete=args.complete)


def check_writable(path: str) -> None:
    """Fail before any work when the output cannot be written (a missing folder is created, as writing would)."""
    target = Path(path)
    existed = target.exists()
    if target.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; -o takes the file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a"):
            pass
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}; choose another output path (-o)") from None
    if not existed:
        target.unlink()


def read_json_file(path: str, what: str):
    """A JSON file's content; errors name the file, the line and what the file should hold."""
    from rankwise.io import FormatError, open_text

    with open_text(path) as f:
        try:
            return json.load(f)
        except UnicodeDecodeError as e:
            raise FormatError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise FormatError(path, e.lineno, f"not valid JSON ({e.msg} at column {e.colno}); expected {what}") from None


def load_candidates(path: str, dataset_dir: str | None, split: str, lenient: bool = False,
                    missing_queries: str = "error"):
    """Queries and candidates with texts, from RankGPT-style JSON or from a TREC run plus a BEIR folder.

    Queries of a TREC run that the dataset's split lacks are an error (``missing_queries="error"``) or are left out
    with a warning that counts them (``"skip"``)."""
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
    known = {q.qid for q in queries}
    missing = [qid for qid in run if qid not in known]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        message = (f"{len(missing)} of the {len(run)} queries of {path} are not among the {split} queries of "
                   f"{dataset_dir}: {shown}")
        if missing_queries == "error":
            raise ValueError(f"{message}. Is the run from this collection and split (--split)? "
                             "--skip-missing-queries reranks the others")
        warnings.warn(f"{message}; they are not reranked")
        run = type(run)((run[qid] for qid in run if qid in known), name=run.name)
    return queries, run.with_texts(dataset.corpus)


def _looks_like_json(path: str) -> bool:
    """Whether a candidates file is JSON (else a TREC run), from its first bytes; an empty file is an error."""
    from rankwise.io import FormatError, open_text

    with open_text(path) as f:
        try:
            head = f.read(64).lstrip()
        except UnicodeDecodeError as e:
            raise FormatError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start}); CANDIDATES must be "
                                          "RankGPT-style JSON or a TREC run") from None
    if not head:
        raise FormatError(path, None, "the file is empty; CANDIDATES must be RankGPT-style JSON or a TREC run")
    return head.startswith("[") or head.startswith("{")


def add_recency_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("recency reranking (--reranker recency; docs/seed_methods.md)")
    g.add_argument("--relevance", default="cross-encoder",
                   help="the relevance reranker recency is combined with, or 'none' for the candidates' scores "
                        "(default: cross-encoder)")
    g.add_argument("--recency-weight", type=float, default=1.0,
                   help="score = relevance * recency ** WEIGHT (0: plain relevance; default 1, AutoCast++'s product)")
    g.add_argument("--decay", default="exponential", choices=["exponential", "linear"],
                   help="recency of a document AGE days older than the question (default: exponential)")
    g.add_argument("--half-life", type=float, default=30.0, help="exponential decay's half-life in days (default 30)")
    g.add_argument("--horizon", type=float, default=365.0, help="linear decay reaches 0 at this age in days")
    g.add_argument("--undated", type=float, default=0.5, help="recency of documents without a date (default 0.5)")


def recency_options(args) -> dict:
    """The RecencyReranker's options, its documents' dates read from --dataset."""
    from rankwise.io import read_beir

    if not args.dataset:
        raise ValueError("--reranker recency needs document dates: pass --dataset DATASET_DIR (a BEIR folder whose "
                         "corpus.jsonl has 'date' or 'timestamp' fields and whose queries.jsonl dates the questions)")
    from rankwise.rerank import get_reranker

    relevance = args.relevance
    model = {"model": args.model} if args.model is not None else {}
    if model and relevance == "none":
        raise ValueError("--model names the model of the relevance reranker, and --relevance is 'none'; name one "
                         "(e.g. --relevance cross-encoder --model NAME_OR_PATH)")
    if relevance.startswith("llm:"):
        relevance = get_reranker(relevance, **llm_options(args), **model)
    elif model:
        relevance = get_reranker(relevance, **model)
    return dict(relevance=relevance, documents=read_beir(args.dataset, None).corpus, weight=args.recency_weight,
                decay=args.decay, half_life_days=args.half_life, horizon_days=args.horizon, undated=args.undated)


def add_rewrite_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("query rewriting before retrieval (docs/seed_methods.md)")
    g.add_argument("--rewrite", metavar="METHOD",
                   help="rewrite queries with an LLM first: hyde, hyde-scifact, expand, rewrite, or a JSON template "
                        "file; the rewritten queries are written to OUTPUT.rewrites.jsonl")
    g.add_argument("--llm", metavar="MODEL_OR_URL",
                   help="the rewriting LLM: model name or path, or an OpenAI-compatible URL "
                        "(default: HuggingFaceTB/SmolLM2-135M-Instruct)")


def rewriter(args):
    """The QueryRewriter --rewrite asks for, or None."""
    if not args.rewrite:
        return None
    from rankwise.rewrite import QueryRewriter

    method = args.rewrite
    if method.endswith(".json"):
        method = json.loads(Path(method).read_text(encoding="utf-8"))
    return QueryRewriter(args.llm or "HuggingFaceTB/SmolLM2-135M-Instruct", method)


def write_rewrites(rewriter, output: str) -> str:
    """The rewrites of a run, one JSON line per query, beside the run file; returns the path."""
    path = f"{output.removesuffix('.gz')}.rewrites.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for qid, record in rewriter.records.items():
            f.write(json.dumps({"qid": qid, **record}, ensure_ascii=False) + "\n")
    return path
