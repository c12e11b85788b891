"""Training rerankers and bi-encoders on sentence-transformers' trainers, with the data rankwise has.

sentence-transformers (pinned in the ``train`` extra) runs the optimisation: ``CrossEncoderTrainer`` and
``SentenceTransformerTrainer`` with their losses (BCE, RankNet, ListNet, LambdaLoss, Margin-MSE, MNRL). rankwise adds
what they lack, one module per concept:

- :mod:`rankwise.train.data` — labelled queries from a BEIR split, hard negatives mined with rankwise retrievers
  (BM25, dense, hybrid; the judged positives removed; a false-negative guard by teacher score), and the example
  layout each loss reads;
- :mod:`rankwise.train.teachers` — any rankwise reranker, a bi-encoder, or an ensemble of them as a teacher; scores
  kept in the score cache (:mod:`rankwise.rerank.cache`), so a rerun computes none of them again;
- :mod:`rankwise.train.losses` — loss names -> sentence-transformers losses (cross-encoder and bi-encoder students);
- :mod:`rankwise.train.curriculum` — MacAvaney et al. (SIGIR 2020) difficulty heuristics and the curriculum weight
  that moves from difficulty-weighted to uniform;
- :mod:`rankwise.train.duqgen` — DUQGen synthetic queries (Chandradevan et al., NAACL 2024): k-means over document
  embeddings, diverse sampling, few-shot LLM query generation, round-trip filter;
- :mod:`rankwise.train.inpars` — InPars synthetic queries (Bonifacio et al. 2022; InPars-v2): random documents,
  few-shot LLM query generation, the best kept by mean log-probability or by a reranker's score;
- :mod:`rankwise.train.folder` — base models (the kit's int8 ONNX graphs rebuilt as fp32 weights), the trained
  folder written atomically with a record of how it was made, int8 ONNX export for the fast cross-encoder path;
- :mod:`rankwise.train.trainer` — :func:`train_cross_encoder` and :func:`train_bi_encoder`: checkpoints, ``resume``,
  progress (steps, loss, examples/s, time left).

See docs/training.md for the commands and the measured results on SciFact.
"""
from __future__ import annotations

_EXPORTS = {
    "train_cross_encoder": "rankwise.train.trainer",
    "train_bi_encoder": "rankwise.train.trainer",
    "TrainingResult": "rankwise.train.trainer",
    "load_training_queries": "rankwise.train.data",
    "mine_negatives": "rankwise.train.data",
    "TrainingSet": "rankwise.train.data",
    "make_teacher": "rankwise.train.teachers",
    "Teacher": "rankwise.train.teachers",
    "EnsembleTeacher": "rankwise.train.teachers",
    "curriculum_weight": "rankwise.train.curriculum",
    "generate_synthetic_queries": "rankwise.train.duqgen",
    "generate_inpars_queries": "rankwise.train.inpars",
    "export_onnx_int8": "rankwise.train.folder",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
