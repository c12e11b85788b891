"""How close the trained folders' int8 ONNX exports stay to their fp32 weights, in the two quantisation formats.

    python benchmarks/int8_export_fidelity.py

The kit's models are dequantised (as training starts from them), exported unquantised, then quantised both ways:
"per tensor" (one scale per weight tensor, full 8-bit range: the kit MiniLM cross-encoder's format) and "per column"
(one scale per output column, 7-bit weights: the kit bge-small's). Printed, on SciFact test texts:

- bge-small: cosine of each export's vectors to the kit graph's and to the fp32 weights' (queries and documents);
- the MiniLM cross-encoder: Spearman correlation and mean |logit difference| of each export's scores to fp32, the
  kit graph's beside them.

AVX2 CPUs without VNNI compute int8 products as u8 x s8 pair sums in int16, which full-range weights can saturate;
the figures depend on the CPU (printed first). docs/training.md quotes them.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import SHARED_DATA, machine

from rankwise.io import read_beir

FORMATS = {"per tensor": {"per_channel": False, "reduce_range": False},
           "per column": {"per_channel": True, "reduce_range": True}}


def exports(folder: Path, work: Path) -> dict[str, Path]:
    """``folder`` exported once unquantised, then quantised in each format: {format: folder holding that graph}."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from rankwise.train.folder import export_onnx_int8

    plain = work / "fp32"
    shutil.copytree(folder, plain)
    graph = export_onnx_int8(plain, quantize=False)
    out = {}
    for name, options in FORMATS.items():
        target = work / name.replace(" ", "-")
        shutil.copytree(plain, target)
        quantize_dynamic(str(graph), str(target / "onnx" / "model.onnx"), weight_type=QuantType.QInt8, **options)
        out[name] = target
    return out


def main() -> int:
    scifact = SHARED_DATA / "scifact"
    if not (scifact / "corpus.jsonl").is_file():
        print(f"{scifact} not found: this benchmark needs ../shared/data/scifact", file=sys.stderr)
        return 2
    from scipy.stats import spearmanr

    from rankwise.rerank.cross_encoder import CrossEncoderReranker
    from rankwise.retrieve.encoders import load_encoder
    from rankwise.train.folder import load_bi_encoder, prepare_bi_encoder_base, prepare_cross_encoder_base

    data = read_beir(scifact, "test")
    documents = [d.contents for d in list(data.documents)[:40]]
    queries = [q.text for q in data.queries[:5]]
    print(f"machine: {machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dense = "BAAI/bge-small-en-v1.5"
        base, settings = prepare_bi_encoder_base(dense)
        st_folder = tmp / "bge"
        load_bi_encoder(base, settings, settings["max_length"], "cpu").save_pretrained(str(st_folder),
                                                                                         create_model_card=False)
        encoders = {"kit graph": load_encoder(dense), "fp32": load_encoder(st_folder, backend="torch")}
        encoders.update({name: load_encoder(f) for name, f in exports(st_folder, tmp / "bge-exports").items()})
        vectors = {name: (e.encode_queries(queries + documents[:20]), e.encode_documents(documents))
                   for name, e in encoders.items()}
        print(f"bge-small ({len(queries) + 20} queries, {len(documents)} documents): mean cosine of the vectors")
        print("| export | to the kit graph (q / d) | to fp32 (q / d) |\n|---|---|---|")
        for name in ("kit graph", *FORMATS):
            cells = [" / ".join(f"{np.mean(np.sum(vectors[name][i] * vectors[ref][i], axis=1)):.4f}" for i in (0, 1))
                     for ref in ("kit graph", "fp32")]
            print(f"| {name} | {cells[0]} | {cells[1]} |")

        cross = "cross-encoder/ms-marco-MiniLM-L-12-v2"
        ce_base = prepare_cross_encoder_base(cross).path
        pairs_q = [q for q in queries for _ in documents]
        pairs_d = [d for _ in queries for d in documents]
        fp32 = CrossEncoderReranker(str(ce_base), backend="torch", max_length=512).score_pairs(pairs_q, pairs_d)
        rerankers = {"kit graph": CrossEncoderReranker(cross, max_length=512)}
        rerankers.update({name: CrossEncoderReranker(str(f), max_length=512)
                          for name, f in exports(ce_base, tmp / "ce-exports").items()})
        print(f"\nMiniLM cross-encoder ({len(pairs_q)} (query, document) pairs): scores against fp32")
        print("| export | Spearman | mean abs logit difference |\n|---|---|---|")
        for name, reranker in rerankers.items():
            scores = reranker.score_pairs(pairs_q, pairs_d)
            print(f"| {name} | {spearmanr(scores, fp32).correlation:.4f} | {np.mean(np.abs(scores - fp32)):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
