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
        template = read_json_file(template, "a prompt template (docs/llm_rerankers.md shows its fields)")
    return dict(llm=llm, llm_options=engine or None, window=args.window, step=args.step, passes=args.passes,
                method=args.method, k=args.k, set_size=args.set_size, mode=args.mode, template=template,
                max_passage_tokens=args.max_passage_tokens)


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
