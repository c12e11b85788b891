"""RAG on HotpotQA (100 multi-hop questions, 991 paragraphs): evidence Recall@10 / MRR@10 and answer EM / F1 for
closed-book, BM25, dense, and BM25 / dense / hybrid → cross-encoder, each with and without question decomposition
(Ammann et al. 2025), SmolLM2-135M-Instruct writing the answers — the table in docs/rag.md.

    python benchmarks/experiments_rag.py [--out runs/rag] [--only bm25-ce qd-smol-bm25-ce …] [--limit N]
                                         [--threads 1] [--llm MODEL_OR_URL]
    python benchmarks/experiments_rag.py --report [--out runs/rag]          # the tables, from what is there

Every configuration writes its ANSWERS file (``OUT/NAME.jsonl``) one question at a time, so a run cut short resumes
where it stopped (run it again). Configurations run one after another in the order of ``CONFIGS``; ``--only`` picks
some. Question decomposition comes in two kinds: sub-questions written by SmolLM2 (``qd-smol-*``: what
``rankwise rag --decompose`` does) and the project-written sub-questions of
``benchmarks/data/hotpotqa_sub_questions.jsonl`` (``qd-sup-*``: ``rankwise rag --sub-questions``), which show what
decomposition does for the evidence when the sub-questions are usable. ``gold`` hands the generator the two
supporting paragraphs: the generator's own ceiling, apart from retrieval.

Generations are cached by prompt (``OUT/generations.jsonl``): greedy decoding gives the same text for the same prompt,
so a prompt met again (a decomposition reused by the three retrievers, the same five passages under two
configurations) is not recomputed. A replayed generation keeps the tokens and engine seconds measured when it was
made, so the cost columns are those of an uncached run: seconds per question = retrieval + reranking (wall clock)
+ the engine's own seconds for its calls.

The report compares every configuration with standard RAG (dense retrieval, top 5 to the generator, no reranking:
the paper's baseline) and each decomposed configuration with the same retriever → cross-encoder without
decomposition, with paired t-tests, Holm-corrected within each table.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import time
import warnings
from pathlib import Path

from common import REPO, SHARED_DATA, machine  # noqa: E402  (puts src/ on sys.path)

DATA = SHARED_DATA / "hotpotqa"
SUPPLIED = REPO / "benchmarks" / "data" / "hotpotqa_sub_questions.jsonl"
TOP_K, CONTEXTS, MAX_NEW_TOKENS = 20, 5, 24

# name -> (label, retriever, rerank, decomposition); names ending in -k5 retrieve 5 per query instead of TOP_K
CONFIGS = {
    "closed-book": ("closed-book (zero-shot)", None, False, None),
    "bm25": ("BM25", "bm25", False, None),
    "dense": ("dense (standard RAG)", "dense", False, None),
    "bm25-ce": ("BM25 → CE", "bm25", True, None),
    "dense-ce": ("dense → CE", "dense", True, None),
    "hybrid-ce": ("hybrid → CE", "hybrid", True, None),
    "qd-smol-bm25-ce": ("QD (SmolLM2) + BM25 → CE", "bm25", True, "smol"),
    "qd-smol-dense-ce": ("QD (SmolLM2) + dense → CE", "dense", True, "smol"),
    "qd-smol-hybrid-ce": ("QD (SmolLM2) + hybrid → CE", "hybrid", True, "smol"),
    "qd-sup-bm25-ce": ("QD (supplied) + BM25 → CE", "bm25", True, "supplied"),
    "qd-sup-dense-ce": ("QD (supplied) + dense → CE", "dense", True, "supplied"),
    "qd-sup-hybrid-ce": ("QD (supplied) + hybrid → CE", "hybrid", True, "supplied"),
    "qd-sup-bm25": ("QD (supplied) + BM25, no reranking", "bm25", False, "supplied"),
    "qd-sup-dense": ("QD (supplied) + dense, no reranking", "dense", False, "supplied"),
    "gold": ("gold supporting paragraphs (generator ceiling)", "gold", False, None),
    # a shallower pool (k = 5 per query), where what the pool misses is what decomposition can add
    "bm25-ce-k5": ("BM25 → CE, k = 5", "bm25", True, None),
    "qd-smol-bm25-ce-k5": ("QD (SmolLM2) + BM25 → CE, k = 5", "bm25", True, "smol"),
    "qd-sup-bm25-ce-k5": ("QD (supplied) + BM25 → CE, k = 5", "bm25", True, "supplied"),
    "dense-ce-k5": ("dense → CE, k = 5", "dense", True, None),
    "qd-smol-dense-ce-k5": ("QD (SmolLM2) + dense → CE, k = 5", "dense", True, "smol"),
    "qd-sup-dense-ce-k5": ("QD (supplied) + dense → CE, k = 5", "dense", True, "supplied"),
}
BASELINE = "dense"
EVIDENCE = ["recall_10", "recip_rank_cut_10"]
# both_5: the share of questions with both supporting paragraphs in the top 5 (per-query recall_5 = 1)
EVIDENCE_COLUMNS = ["both_5", "recall_5"] + EVIDENCE + ["success_10", "recall_100"]
ANSWER = ["em", "f1"]


def cached_engine(engine, path: Path):
    """The engine with a persistent cache of greedy generations keyed by prompt and length (module docs)."""
    from rankwise.rerank.llm.backends import LLM, Generation, Usage

    class Cached(LLM):
        def __init__(self):
            self.inner, self.name, self.context_length = engine, engine.name, engine.context_length
            self.capabilities = frozenset({"generate"})
            self.hits = self.misses = 0
            self.memory = {}
            if path.exists():
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        try:
                            item = json.loads(line)
                        except ValueError:
                            continue  # a torn last line: that generation is made again
                        self.memory[item["key"]] = item

        def count_tokens(self, text):
            return self.inner.count_tokens(text)

        def truncate_text(self, text, max_tokens):
            return self.inner.truncate_text(text, max_tokens)

        def prompt_tokens(self, prompt):
            return self.inner.prompt_tokens(prompt)

        def generate(self, prompts, max_tokens, stop=()):
            out = []
            for prompt in prompts:
                key = hashlib.sha256(json.dumps([prompt.messages, prompt.text, prompt.prefix, max_tokens, list(stop)])
                                     .encode("utf-8")).hexdigest()
                item = self.memory.get(key)
                if item is None:
                    self.misses += 1
                    g = self.inner.generate([prompt], max_tokens, stop)[0]
                    if g.error is not None:  # failures are not cached
                        out.append(g)
                        continue
                    item = {"key": key, "text": g.text, "usage": g.usage.__dict__}
                    self.memory[key] = item
                    with open(path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(item, ensure_ascii=False) + "\n")
                else:
                    self.hits += 1
                out.append(Generation(item["text"], Usage(**item["usage"])))
            return out

    return Cached()


def build(name: str, dataset, engine, parts: dict):
    """The RAG object of configuration ``name`` (indexes and models in ``parts`` are built once and shared)."""
    from rankwise.fuse import Precomputed, fuse
    from rankwise.rag import RAG, Generator, LLMDecomposer, SuppliedDecomposer
    from rankwise.rerank import get_reranker
    from rankwise.retrieve import BM25Retriever, DenseRetriever
    from rankwise.types import Ranking, Run

    _, retriever_name, rerank, decomposition = CONFIGS[name]
    generator = Generator(engine, contexts=CONTEXTS, max_new_tokens=MAX_NEW_TOKENS)

    def part(key, make):
        if key not in parts:
            start = time.perf_counter()
            parts[key] = make()
            print(f"  built {key} in {time.perf_counter() - start:.1f}s", file=sys.stderr)
        return parts[key]

    def bm25():
        return part("bm25", lambda: BM25Retriever().index(dataset.documents))

    def dense():  # the encoded corpus is cached on disk ($RANKWISE_CACHE) across runs
        return part("dense", lambda: DenseRetriever("BAAI/bge-small-en-v1.5", cache=True).index(dataset.documents))

    retriever = None
    if retriever_name == "bm25":
        retriever = bm25()
    elif retriever_name == "dense":
        retriever = dense()
    elif retriever_name == "hybrid":  # as `rankwise rag --retriever hybrid`: RRF of the two top-k lists
        retriever = fuse([bm25() % TOP_K, dense() % TOP_K], "rrf", top=TOP_K)
    elif retriever_name == "gold":
        gold = Run(Ranking(q.qid, list(dataset.qrels[q.qid]), [1.0] * len(dataset.qrels[q.qid]),
                           [dataset.corpus[d].contents for d in dataset.qrels[q.qid]]) for q in dataset.queries)
        retriever = Precomputed(gold, name="gold")
    reranker = part("ce", lambda: get_reranker("cross-encoder", cache=parts.get("ce_cache"),
                                               threads=parts.get("threads"))) if rerank else None
    decomposer = None
    if decomposition == "smol":
        decomposer = LLMDecomposer(engine)
    elif decomposition == "supplied":
        decomposer = SuppliedDecomposer(SUPPLIED)
    return RAG(generator, retriever, reranker=reranker, decomposer=decomposer, k=5 if name.endswith("-k5") else TOP_K)



def run(args) -> None:
    from rankwise.datasets import load
    from rankwise.rerank.llm.backends import get_llm

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load(DATA)
    engine = cached_engine(get_llm(args.llm), out / "generations.jsonl")
    parts: dict = {"ce_cache": out / "ce_scores.sqlite" if args.ce_cache else None, "threads": args.threads}
    for name in args.only or list(CONFIGS):
        if name not in CONFIGS:
            raise SystemExit(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
        rag = build(name, dataset, engine, parts)
        start, hits, misses = time.perf_counter(), engine.hits, engine.misses
        print(f"{name}: {rag}  [{machine()}]", file=sys.stderr)
        answers = rag.run(dataset.queries, out / f"{name}.jsonl", limit=args.limit)
        print(f"  {len(answers.answers)} answered ({rag.skipped} already there) in {time.perf_counter() - start:.0f}s; "
              f"generations made {engine.misses - misses}, replayed {engine.hits - hits}; "
              f"failed {rag.generator.failures}; {machine()}", file=sys.stderr)
        if rag.decomposer is not None:
            print(f"  questions without a usable sub-question: {rag.decomposer.unusable}", file=sys.stderr)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB; {machine()}", file=sys.stderr)


def evidence(args) -> None:
    """Retrieval, decomposition and reranking only (no answers): ``OUT/evidence/NAME.jsonl``, resumable."""
    from rankwise.datasets import load
    from rankwise.rag import Answer, AnswerWriter
    from rankwise.rag.generator import usage_summary
    from rankwise.rerank.llm.backends import get_llm

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    (out / "evidence").mkdir(parents=True, exist_ok=True)
    dataset = load(DATA)
    engine = cached_engine(get_llm(args.llm), out / "generations.jsonl")
    parts: dict = {"ce_cache": out / "ce_scores.sqlite" if args.ce_cache else None, "threads": args.threads}
    queries = dataset.queries[: args.limit] if args.limit else dataset.queries
    for name in args.only or [n for n in CONFIGS if CONFIGS[n][1] is not None]:
        rag = build(name, dataset, engine, parts)
        if rag.retriever is None:
            continue
        start = time.perf_counter()
        label = f"{rag} (evidence only)"
        with AnswerWriter(out / "evidence" / f"{name}.jsonl", pipeline=label) as writer:
            for q in [q for q in queries if q.qid not in writer.done]:
                first = len(rag.decomposer.costs.records) if rag.decomposer is not None else 0
                ranking, subs, seconds = rag.candidates(q)
                records = rag.decomposer.costs.records[first:] if rag.decomposer is not None else []
                contexts = [{"docid": d, "score": x, "in_prompt": False} for d, x in ranking] if ranking else []
                writer.write(Answer(q.qid, q.text, "", contexts=contexts, sub_questions=subs, seconds=seconds,
                                    llm=usage_summary(records), pipeline=label).to_dict())
        print(f"{name}: evidence in {time.perf_counter() - start:.0f}s; {machine()}", file=sys.stderr)


# --- the report ---------------------------------------------------------------------------------------------------
def cost(name: str, records) -> dict:
    """Per-question means: LLM calls and tokens, cross-encoder pairs scored, and seconds = decomposition and
    generation (the engine's own seconds) + retrieval and reranking (wall clock)."""
    n = len(records)
    seconds = [r["seconds"].get("retrieve", 0) + r["seconds"].get("rerank", 0) + r["llm"].get("seconds", 0)
               for r in records]
    return {"calls": sum(r["llm"]["calls"] for r in records) / n,
            "prompt_tokens": sum(r["llm"]["prompt_tokens"] for r in records) / n,
            "completion_tokens": sum(r["llm"]["completion_tokens"] for r in records) / n,
            "pairs": sum(len(r["contexts"]) for r in records) / n if CONFIGS[name][2] else 0.0,
            "seconds": sum(seconds) / n}


def paired(*groups):
    """Paired t-tests of ``(pairs, evaluations, metrics)`` groups, Holm-corrected together: a list of
    ``[a, b, metric, mean difference a - b, p, adjusted p]`` for every (pair, metric) both sides have."""
    from rankwise.evaluate import adjust_pvalues, paired_test

    cells = []
    for pairs, evaluations, metrics in groups:
        for a, b in pairs:
            for m in metrics:
                if evaluations[a].aggregate.get(m) is None or evaluations[b].aggregate.get(m) is None:
                    continue
                # on the questions both answered: with --partial, unfinished configurations have fewer
                t = paired_test(evaluations[a].per_query[m], evaluations[b].per_query[m], "ttest",
                                on_mismatch="intersect")
                cells.append([a, b, m, t.mean_difference, t.pvalue])
    for cell, adjusted in zip(cells, adjust_pvalues([c[4] for c in cells], "holm")):
        cell.append(adjusted)
    return cells


def _load(path: Path, dataset, complete: int, partial: bool):
    from rankwise.rag import evaluate_answers, read_answers

    if not path.exists() or not path.stat().st_size:
        return None
    records = [r for _, r in read_answers(path)]
    if len(records) < complete and not partial:
        print(f"(skipping {path}: {len(records)} of {complete} questions; --partial shows it)", file=sys.stderr)
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = evaluate_answers(path, dataset, evidence_metrics=["recall_5"] + EVIDENCE + ["success_10", "recall_100"],
                              name=path.stem)
    if ev.aggregate.get("recall_5") is not None:  # both supporting paragraphs among the 5 the generator reads
        ev.per_query["both_5"] = {q: float(v == 1.0) for q, v in ev.per_query["recall_5"].items()}
        ev.aggregate["both_5"] = sum(ev.per_query["both_5"].values()) / len(ev.per_query["both_5"])
    return ev, records


def _table(header, rows, evaluations, metrics, marks, extra):
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for name in rows:
        cells = []
        for m in metrics:
            v = evaluations[name].aggregate.get(m)
            cells.append("—" if v is None else f"{v:.4f}{marks.get((name, m), '')}")
        lines.append(f"| {CONFIGS[name][0]} | " + " | ".join(cells + extra(name)) + " |")
    return "\n".join(lines)


def report(args) -> None:
    from rankwise.datasets import load

    out = Path(args.out)
    dataset = load(DATA)
    n = args.limit or len(dataset.queries)
    answers, evidence_of = {}, {}
    for name in CONFIGS:
        loaded = _load(out / f"{name}.jsonl", dataset, n, args.partial)
        if loaded is not None:
            answers[name] = loaded
        loaded = loaded if loaded is not None else _load(out / "evidence" / f"{name}.jsonl", dataset, n, args.partial)
        if loaded is not None and CONFIGS[name][1] not in (None, "gold"):
            evidence_of[name] = loaded
    if not answers and not evidence_of:
        raise SystemExit(f"nothing to report in {out}")
    lines = [f"HotpotQA, first {n} dev questions; {machine(load=False)}", ""]

    # A: evidence (no generator involved)
    ev = {k: v[0] for k, v in evidence_of.items()}
    pairs = [(k, BASELINE) for k in ev if k != BASELINE and BASELINE in ev]
    cells = paired((pairs, ev, EVIDENCE_COLUMNS))
    marks = {(a, m): ("▲" if d > 0 else "▼") for a, _, m, d, _, adj in cells if adj < 0.05}

    def evidence_cost(name):
        # decomposition calls only: from the evidence pass's file (no generation) when there is one
        only_evidence = _load(out / "evidence" / f"{name}.jsonl", dataset, n, args.partial)
        c = cost(name, (only_evidence or evidence_of[name])[1])
        return [f"{c['calls']:.2f}", f"{c['pairs']:.1f}"]

    lines += ["Evidence (the final ranking; no generator involved):", "",
              _table(["configuration", "both@5", "Recall@5", "Recall@10", "MRR@10", "Hits@10", "pool recall",
                      "LLM calls/q", "CE pairs/q"], list(ev), ev, EVIDENCE_COLUMNS, marks, evidence_cost),
              "", f"▲/▼: significantly better/worse than {CONFIGS[BASELINE][0]} (paired t-test, Holm over "
              f"{len(cells)} comparisons, p < 0.05).", ""]

    # B: answers
    if answers:
        ans = {k: v[0] for k, v in answers.items()}
        costs = {k: cost(k, v[1]) for k, v in answers.items()}
        pairs = [(k, BASELINE) for k in ans if k != BASELINE and BASELINE in ans]
        cells = paired((pairs, ans, ANSWER + ["accuracy"]))
        marks = {(a, m): ("▲" if d > 0 else "▼") for a, _, m, d, _, adj in cells if adj < 0.05}

        def answer_cost(name):
            c = costs[name]
            return [f"{c['calls']:.2f}", f"{c['prompt_tokens']:.0f}", f"{c['completion_tokens']:.1f}",
                    f"{c['pairs']:.1f}", f"{c['seconds']:.2f}"]

        lines += [f"Answers ({args.llm} writes them; top {CONTEXTS} passages, at most {MAX_NEW_TOKENS} new tokens):",
                  "", _table(["configuration", "EM", "F1", "accuracy", "LLM calls/q", "prompt tok/q",
                              "completion tok/q", "CE pairs/q", "s/q"], list(ans), ans, ANSWER + ["accuracy"], marks,
                             answer_cost),
                  "", f"▲/▼: significantly better/worse than {CONFIGS[BASELINE][0]} (paired t-test, Holm over "
                  f"{len(cells)} comparisons, p < 0.05).", ""]

    # C: what decomposition changes, against the same retriever → CE without it
    both = {**ev, **{k: v[0] for k, v in answers.items()}}
    qd = [(k, k.split("-", 2)[2]) for k in CONFIGS if k.startswith("qd-") and k in ev and k.split("-", 2)[2] in ev]
    if qd:
        answered = [(a, b) for a, b in qd if a in answers and b in answers]
        cells = paired((qd, both, ["both_5"] + EVIDENCE), (answered, {k: v[0] for k, v in answers.items()}, ANSWER))
        found = {(a, m): (d, adj) for a, _, m, d, _, adj in cells}
        lines += ["Decomposition against the same retriever → CE without it (mean difference, Holm-adjusted p):", "",
                  "| decomposition | Δboth@5 | ΔRecall@10 | ΔMRR@10 | ΔEM | ΔF1 |", "|---|---:|---:|---:|---:|---:|"]
        for a, b in qd:
            shown = [f"{found[(a, m)][0]:+.4f} (p={found[(a, m)][1]:.3f})" if (a, m) in found else "—"
                     for m in ["both_5"] + EVIDENCE + ANSWER]
            lines.append(f"| {CONFIGS[a][0]} vs {CONFIGS[b][0]} | " + " | ".join(shown) + " |")
        lines.append("")
    for name in [k for k in evidence_of if k.startswith("qd-smol")]:
        records = evidence_of[name][1]
        used = sum(1 for r in records if r["sub_questions"])
        lines.append(f"{name}: {used} of {len(records)} questions got at least one usable sub-question from SmolLM2")
    if BASELINE in both:
        for name in ("dense-ce", "qd-smol-dense-ce", "qd-sup-dense-ce"):
            if name in both:
                rel = []
                for m, label in (("recip_rank_cut_10", "MRR@10"), ("f1", "F1")):
                    a, b = both[name].aggregate.get(m), both[BASELINE].aggregate.get(m)
                    rel.append(f"{label} {(a - b) / b * 100:+.1f}%" if a is not None and b else f"{label} —")
                lines.append(f"{CONFIGS[name][0]} vs standard RAG: " + ", ".join(rel)
                             + "  (paper, large LLM: MRR@10 +36.7%, F1 +11.6%)")
    text = "\n".join(lines)
    print(text)
    (out / "report.md").write_text(text + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "runs" / "rag"),
                        help="folder of the ANSWERS files (default runs/rag)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"configurations, from: {', '.join(CONFIGS)}")
    parser.add_argument("--limit", type=int, help="answer only the first N questions")
    parser.add_argument("--llm", default="HuggingFaceTB/SmolLM2-135M-Instruct", help="the generator (and decomposer)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--ce-cache", action="store_true",
                        help="keep cross-encoder scores in OUT/ce_scores.sqlite and reuse them (faster reruns; the "
                             "rerank seconds then count only the pairs not yet scored)")
    parser.add_argument("--evidence-only", action="store_true",
                        help="retrieve, decompose and rerank without answering (OUT/evidence/NAME.jsonl)")
    parser.add_argument("--report", action="store_true", help="print the tables of what OUT holds")
    parser.add_argument("--partial", action="store_true", help="with --report: include unfinished configurations")
    args = parser.parse_args(argv)
    if args.report:
        report(args)
    elif args.evidence_only:
        evidence(args)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
