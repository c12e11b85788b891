"""Fusion and feedback on real collections: the tables of docs/fusion_feedback.md.

    python benchmarks/experiments_fusion.py [--data ../shared/data] [--only dl19,rm3,vprf,textprf,hybrid]
                                            [--reranker cross-encoder] [--out /tmp/rankwise-fusion]

Sections (each prints Markdown tables with paired t-tests, Holm-corrected, against the baseline named in it):

- ``dl19``    DL19 (43 queries, BM25 top-100): the cross-encoder run (or BM25 when the reranker is not available),
              the published RankGPT gpt-3.5 and RankVicuna-7B runs, alone and fused (RRF, Borda).
- ``rm3``     BM25 vs BM25 + RM3 (Pyserini's 10 documents / 10 terms / 0.5) on SciFact test and Vaswani.
- ``vprf``    dense retrieval (bge-small-en-v1.5 from the offline kit) with and without vector PRF on SciFact test.
- ``textprf`` text PRF for rerankers on DL19: the BM25 reranker (and the cross-encoder when available).
- ``hybrid``  BM25 + dense (+ SPLADE-tiny) on SciFact: fusion weights and RRF's k learned on the train queries,
              everything reported on the test queries.

Sections whose model is missing print "not yet measured — needs X" instead of numbers. Runs are written to --out
(the cross-encoder's DL19 run is reused from there when present). Timings are not the point here; the machine may
be shared.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np  # noqa: E402
from common import REPO  # noqa: E402  (puts src/ on sys.path)

from rankwise.evaluate import compare_runs, evaluate  # noqa: E402
from rankwise.feedback import RM3, TextPRF, VectorPRF  # noqa: E402
from rankwise.fuse import fuse_runs, learn_fusion  # noqa: E402
from rankwise.io import (  # noqa: E402
    read_beir,
    read_candidates,
    read_qrels,
    read_run,
    read_topics,
    read_trec_docs,
    write_run,
)
from rankwise.retrieve import BM25Retriever  # noqa: E402
from rankwise.types import Ranking, Run  # noqa: E402

SECTIONS = ("dl19", "rm3", "vprf", "textprf", "hybrid")


def table(title: str, runs: dict[str, Run], qrels, metrics, baseline: str, **options) -> None:
    comparison = compare_runs(runs, qrels, metrics, baseline=baseline, **options)
    print(f"\n### {title}\n")
    print(comparison.to_markdown())
    first = comparison.metrics[0]
    adjusted = ", ".join(f"{run} {comparison.adjusted_pvalues[run][first]:.3g}" for run in comparison.runs
                         if run != comparison.baseline)
    print(f"\nHolm-adjusted p-values for {first}: {adjusted}")
    sys.stdout.flush()


def not_measured(title: str, rows: list[str], needs: str) -> None:
    print(f"\n### {title}\n")
    for row in rows:
        print(f"| {row} | not yet measured — needs {needs} |")
    sys.stdout.flush()


def load_reranker(name: str):
    """The reranker registered under ``name``, or None with the reason printed."""
    from rankwise.rerank import get_reranker

    try:
        return get_reranker(name)
    except (ValueError, ImportError, LookupError, OSError):
        if name == "cross-encoder":  # not registered yet: the class itself, with its default (kit) model
            try:
                from rankwise.rerank.cross_encoder import CrossEncoderReranker

                return CrossEncoderReranker()
            except Exception as e2:  # noqa: BLE001
                e = e2
        print(f"(reranker {name!r} not available: {e})", file=sys.stderr)
        return None


def subset(run: Run, qids) -> Run:
    qids = set(qids)
    return Run((r for q, r in run.items() if q in qids), name=run.name)


# --- DL19: fusing the published LLM runs with our own --------------------------------------------------------------
def dl19(args) -> None:
    folder = args.data / "dl19"
    qrels = read_qrels(folder / "qrels.txt")
    bm25 = read_run(folder / "bm25_top100.trec", name="BM25")
    gpt = read_run(folder / "reference_runs" / "rankgpt-gpt35.bm25top100.trec", name="RankGPT-3.5")
    vicuna = read_run(folder / "reference_runs" / "rankvicuna-7b.bm25top100.trec", name="RankVicuna-7B")
    ce = cross_encoder_run(args)
    own = ce if ce is not None else bm25
    own_name = "CE" if ce is not None else "BM25"
    runs = {"BM25": bm25} if ce is None else {"BM25": bm25, "CE (MiniLM-L12 int8)": ce}
    runs.update({"RankGPT-3.5": gpt, "RankVicuna-7B": vicuna})
    parts = {own_name: own, "GPT": gpt, "Vicuna": vicuna}
    for combo in ((own_name, "GPT"), (own_name, "Vicuna"), ("GPT", "Vicuna"), (own_name, "GPT", "Vicuna")):
        runs[f"RRF({', '.join(combo)})"] = fuse_runs([parts[c] for c in combo], "rrf")
    runs[f"Borda({own_name}, GPT, Vicuna)"] = fuse_runs([own, gpt, vicuna], "borda")
    # DL19 has no training split: weights and k are learned by 5-fold cross-validation, each fold's queries
    # fused with the setting learned on the other four folds.
    runs[f"weighted RRF({own_name}, GPT, Vicuna), 5-fold CV"] = cross_validated([own, gpt, vicuna], qrels, "rrf")
    options = dict(relevance_level=2)  # DL19 convention: binary measures count grades >= 2
    table("DL19: runs alone and fused (baseline: RankGPT-3.5, the strongest published run)", runs, qrels,
          ["ndcg_cut_10", "map"], "RankGPT-3.5", **options)
    table(f"DL19: the same against {own_name}", runs, qrels, ["ndcg_cut_10", "map"], own_name if ce is None
          else "CE (MiniLM-L12 int8)", **options)
    # Do the runs' errors differ? Per-query nDCG@10 correlation and wins (RRF helps most when they differ).
    per_query = {n: evaluate(r, qrels, ["ndcg_cut_10"]).per_query["ndcg_cut_10"] for n, r in parts.items()}
    print("\nper-query nDCG@10:")
    for a, b in ((own_name, "GPT"), (own_name, "Vicuna"), ("GPT", "Vicuna")):
        qids = sorted(per_query[a])
        x = np.array([per_query[a][q] for q in qids])
        y = np.array([per_query[b][q] for q in qids])
        print(f"- {a} vs {b}: Pearson r = {np.corrcoef(x, y)[0, 1]:.2f}; {a} better on {(x > y).sum()} queries, "
              f"{b} on {(y > x).sum()}, tied on {(x == y).sum()}")
    if ce is None:
        not_measured("DL19 with the cross-encoder", ["CE alone", "RRF(CE, GPT)", "RRF(CE, Vicuna)",
                                                     "RRF(CE, GPT, Vicuna)", "Borda(CE, GPT, Vicuna)"],
                     f"the cross-encoder reranker (--reranker {args.reranker}, rankwise.rerank.cross_encoder)")


def cross_validated(runs: list[Run], qrels, method: str, folds: int = 5, **options) -> Run:
    qids = sorted(q for q in qrels if all(q in r for r in runs))
    out = Run(name=f"{method} cv")
    for i in range(folds):
        held_out = qids[i::folds]
        train = {q: qrels[q] for q in qids if q not in set(held_out)}
        setting = learn_fusion([subset(r, train) for r in runs], train, method, **options)
        print(f"(fold {i + 1}: {setting.describe().splitlines()[0]})", file=sys.stderr)
        out.update(setting.apply([subset(r, held_out) for r in runs]))
    return out


def cross_encoder_run(args) -> Run | None:
    path = args.out / "dl19.cross-encoder.run"
    if path.is_file() and not args.fresh:
        return read_run(path, name="CE")
    reranker = load_reranker(args.reranker)
    if reranker is None:
        return None
    queries, candidates = read_candidates(args.data / "dl19" / "bm25_top100.json")
    start = time.perf_counter()
    run = reranker(queries, candidates)
    print(f"(cross-encoder on DL19: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    write_run(run, path, tag="cross-encoder")
    return read_run(path, name="CE")  # as the other runs: through a TREC file


# --- RM3 ----------------------------------------------------------------------------------------------------------
def rm3(args) -> None:
    scifact = read_beir(args.data / "scifact", "test")
    bm25 = BM25Retriever().index(scifact.corpus)
    start = time.perf_counter()
    base = bm25.search(scifact.queries, k=1000)
    expanded = RM3(bm25)(scifact.queries)
    print(f"(SciFact BM25 + RM3: {time.perf_counter() - start:.1f} s for 300 queries, both runs)", file=sys.stderr)
    table("SciFact test (300 queries): BM25 and BM25 + RM3 (10 docs, 10 terms, 0.5)",
          {"BM25": base, "BM25 + RM3": expanded}, scifact.qrels, ["ndcg_cut_10", "map", "recall_100", "recall_1000"],
          "BM25")

    folder = args.data / "vaswani"
    docs = read_trec_docs(folder / "doc-text.trec")
    queries, qrels = read_topics(folder / "query-text.trec"), read_qrels(folder / "qrels")
    bm25 = BM25Retriever().index(docs)
    base, expanded = bm25.search(queries, k=1000), RM3(bm25)(queries)
    table("Vaswani (93 queries): BM25 and BM25 + RM3 (10 docs, 10 terms, 0.5)",
          {"BM25": base, "BM25 + RM3": expanded}, qrels, ["map", "ndcg_cut_10", "P_10", "recall_1000"], "BM25")


# --- vector PRF -----------------------------------------------------------------------------------------------------
def dense_retriever(corpus):
    from rankwise.retrieve.dense import DenseRetriever

    start = time.perf_counter()
    dense = DenseRetriever("BAAI/bge-small-en-v1.5", cache=True).index(corpus)
    print(f"(dense index of {len(corpus)} documents: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return dense


def vprf(args) -> None:
    scifact = read_beir(args.data / "scifact", "test")
    try:
        dense = dense_retriever(scifact.corpus)
    except Exception as e:  # noqa: BLE001 - any failure to build the model means "not measured"
        not_measured("SciFact test: dense retrieval with vector PRF", ["dense", "dense + PRF"],
                     f"the dense retriever with bge-small-en-v1.5 ({type(e).__name__}: {e})")
        return
    queries = scifact.queries
    runs = {"dense (bge-small int8)": dense.search(queries, k=1000)}
    for label, options in (("average, 3 docs", dict(fb_docs=3, method="average")),
                           ("Rocchio 0.9/0.1, 3 docs", dict(fb_docs=3, method="rocchio", alpha=0.9, beta=0.1)),
                           ("Rocchio 0.5/0.5, 3 docs", dict(fb_docs=3, method="rocchio", alpha=0.5, beta=0.5)),
                           ("average, 10 docs", dict(fb_docs=10, method="average"))):
        runs[f"dense + PRF ({label})"] = VectorPRF(dense, **options)(queries)
    table("SciFact test (300 queries): dense retrieval with vector PRF (baseline: dense)", runs, scifact.qrels,
          ["ndcg_cut_10", "map", "recall_100", "recall_1000"], "dense (bge-small int8)")


# --- text PRF for rerankers ------------------------------------------------------------------------------------------
def textprf(args) -> None:
    from rankwise.rerank.bm25 import BM25Reranker

    folder = args.data / "dl19"
    qrels = read_qrels(folder / "qrels.txt")
    queries, candidates = read_candidates(folder / "bm25_top100.json")
    bm25 = read_run(folder / "bm25_top100.trec", name="BM25")
    reranker = BM25Reranker()
    runs = {"BM25 (first stage)": bm25, "BM25 reranker": reranker(queries, candidates)}
    for agg in ("borda", "sum"):
        runs[f"BM25 reranker + text PRF (3 docs, {agg})"] = TextPRF(reranker, fb_docs=3, aggregate=agg)(queries,
                                                                                                      candidates)
    table("DL19: text PRF with the BM25 reranker (baseline: the reranker alone)", runs, qrels,
          ["ndcg_cut_10", "map"], "BM25 reranker", relevance_level=2)
    ce = load_reranker(args.reranker)
    if ce is None:
        not_measured("DL19: text PRF with the cross-encoder", ["CE", "CE + text PRF (3 docs, borda)",
                                                              "CE + text PRF (3 docs, sum)"],
                     f"the cross-encoder reranker (--reranker {args.reranker})")
        return
    ce_run = cross_encoder_run(args)
    runs = {"BM25 (first stage)": bm25, "CE": ce_run}
    # Feedback passages: BM25's top 3 (the candidates' order), as in Li et al.'s text-based PRF for rerankers.
    for agg in ("borda", "sum"):
        start = time.perf_counter()
        runs[f"CE + text PRF (3 docs, {agg})"] = TextPRF(ce, fb_docs=3, aggregate=agg)(queries, candidates)
        print(f"(CE text PRF {agg}: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    # Feedback passages from the cross-encoder's own top 3 instead (ce >> TextPRF(ce)): the CE run with texts.
    texts = {q: dict(zip(r.docids, r.texts)) for q, r in candidates.items()}
    ce_ranked = Run(Ranking(q, r.docids, r.scores, [texts[q][d] for d in r.docids], sort=False)
                    for q, r in ce_run.items())
    start = time.perf_counter()
    runs["CE + text PRF (CE's top 3, borda)"] = TextPRF(ce, fb_docs=3, aggregate="borda")(queries, ce_ranked)
    print(f"(CE text PRF with CE feedback: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    table("DL19: text PRF with the cross-encoder (baseline: CE alone)", runs, qrels, ["ndcg_cut_10", "map"], "CE",
          relevance_level=2)


# --- hybrid retrieval, tuned on train ------------------------------------------------------------------------------
def hybrid(args) -> None:
    data = read_beir(args.data / "scifact", None)  # all 1,109 queries
    train, test = read_qrels(args.data / "scifact/qrels/train.tsv"), read_qrels(args.data / "scifact/qrels/test.tsv")
    queries = [q for q in data.queries if q.qid in train or q.qid in test]
    components: dict[str, Run] = {}
    components["BM25"] = BM25Retriever().index(data.corpus).search(queries, k=1000)
    try:
        components["dense"] = dense_retriever(data.corpus).search(queries, k=1000)
    except Exception as e:  # noqa: BLE001
        not_measured("SciFact hybrid", ["dense", "BM25 + dense"], f"the dense retriever ({type(e).__name__}: {e})")
        return
    try:
        from rankwise.retrieve.splade import SpladeRetriever

        start = time.perf_counter()
        splade = SpladeRetriever("splade-tiny", cache=True).index(data.corpus)
        print(f"(SPLADE-tiny index: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
        components["SPLADE-tiny"] = splade.search(queries, k=1000)
    except Exception as e:  # noqa: BLE001
        print(f"(SPLADE not available: {type(e).__name__}: {e})", file=sys.stderr)
    for name, run in components.items():
        run.name = name
    test_runs = {name: subset(run, test) for name, run in components.items()}
    results = {}
    groups = [("BM25", "dense")] + ([("BM25", "dense", "SPLADE-tiny")] if "SPLADE-tiny" in components else [])
    for group in groups:
        runs = [components[g] for g in group]
        label = " + ".join(group)
        results[f"RRF k=60, equal weights ({label})"] = fuse_runs([subset(r, test) for r in runs], "rrf")
        results[f"CombSUM min-max, equal weights ({label})"] = fuse_runs([subset(r, test) for r in runs], "combsum")
        for method, norm in (("rrf", None), ("combsum", "minmax")):
            start = time.perf_counter()
            setting = learn_fusion([subset(r, train) for r in runs], train, method, norm=norm)
            print(f"\nlearned ({label}, {time.perf_counter() - start:.0f} s): {setting.describe()}")
            tuned = setting.apply([subset(r, test) for r in runs])
            name = f"{'RRF' if method == 'rrf' else 'CombSUM min-max'} tuned on train ({label})"
            results[name] = tuned
    best = max(test_runs, key=lambda n: evaluate(test_runs[n], test, ["ndcg_cut_10"]).aggregate["ndcg_cut_10"])
    table(f"SciFact test (300 queries): hybrid retrieval (baseline: {best}, the strongest component)",
          {**test_runs, **results}, test, ["ndcg_cut_10", "recall_100"], best)
    table("SciFact test (300 queries): hybrid retrieval against BM25", {**test_runs, **results}, test,
          ["ndcg_cut_10", "recall_100"], "BM25")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--reranker", default="cross-encoder", help="registry name of the cross-encoder reranker")
    parser.add_argument("--out", type=Path, default=Path("/tmp/rankwise-fusion"), help="where runs are written")
    parser.add_argument("--fresh", action="store_true", help="recompute the cross-encoder run even if saved")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    warnings.simplefilter("ignore")  # "judged query with no relevant document" notes from evaluation
    for section in sections:
        start = time.perf_counter()
        globals()[section](args)
        print(f"\n({section}: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
