"""`train cross-encoder`, `train bi-encoder`, `train duqgen`, `train inpars`, `train export-onnx` (library:
rankwise.train)."""
from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser("train", help="train rerankers and bi-encoders (fine-tuning, distillation, listwise losses, "
                                     "curricula, DUQGen and InPars synthetic queries)")
    train_sub = p.add_subparsers(dest="train_command", metavar="WHAT")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    ce = train_sub.add_parser("cross-encoder", help="fine-tune a cross-encoder reranker")
    _common(ce, default_base="cross-encoder/ms-marco-MiniLM-L-12-v2 (the offline kit's int8 graph, rebuilt in fp32)",
            losses=["bce", "ranknet", "listnet", "lambda", "margin-mse"], default_loss="bce", default_lr=7e-6)
    ce.add_argument("--onnx", action="store_true",
                    help="also export the trained model to int8 ONNX (MODEL_DIR/onnx/model.onnx) for the fast path")
    ce.set_defaults(func=cmd_train, student="cross-encoder")

    bi = train_sub.add_parser("bi-encoder", help="fine-tune a bi-encoder (dense retriever)")
    _common(bi, default_base="BAAI/bge-small-en-v1.5 (the offline kit's int8 graph, rebuilt in fp32)",
            losses=["mnrl", "margin-mse"], default_loss="mnrl", default_lr=2e-5)
    bi.add_argument("--scale", type=float, default=20.0,
                    help="factor on the student's inner products (MNRL's temperature; Margin-MSE's scale; default 20)")
    bi.add_argument("--onnx", action="store_true",
                    help="also export the trained model to int8 ONNX (MODEL_DIR/onnx/model.onnx), which the dense "
                         "path then runs")
    bi.set_defaults(func=cmd_train, student="bi-encoder")

    dq = train_sub.add_parser("duqgen", help="generate synthetic training queries (DUQGen: cluster, sample, LLM, "
                                             "round-trip filter)")
    dq.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder whose corpus the queries are written for")
    dq.add_argument("-o", "--output", required=True, metavar="JSONL", help="where to write the generated queries")
    dq.add_argument("-n", "--queries", type=int, default=100, help="documents to sample and write a query for "
                                                                    "(default: 100)")
    dq.add_argument("--clusters", type=int, help="k-means clusters (default: as many as queries)")
    dq.add_argument("--encoder", default="BAAI/bge-small-en-v1.5", help="embedding model for the clustering")
    _generation_options(dq)
    dq.add_argument("--filter", dest="retriever", default="bm25", choices=["bm25", "dense", "hybrid"],
                    help="retriever of the round-trip filter (default: bm25)")
    dq.add_argument("--filter-k", type=int, default=10,
                    help="keep a query only if its document is in this top k (default: 10)")
    dq.add_argument("--max-doc-words", type=int, default=160, help="document words in the prompt (default: 160)")
    dq.add_argument("--seed", type=int, default=420, help="k-means and sampling seed (default: 420, DUQGen's)")
    dq.set_defaults(func=cmd_duqgen)

    ip = train_sub.add_parser("inpars", help="generate synthetic training queries (InPars: random documents, LLM, "
                                             "keep the best by log-probability or reranker score)")
    ip.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder whose corpus the queries are written for")
    ip.add_argument("-o", "--output", required=True, metavar="JSONL", help="where to write the generated queries")
    ip.add_argument("-n", "--queries", type=int, default=100,
                    help="documents to sample at random and write a query for (default: 100)")
    ip.add_argument("--keep", type=int, help="queries to keep, the best scored (default: a tenth of -n, as InPars)")
    ip.add_argument("--filter", default="scores", choices=["scores", "reranker"],
                    help="scores: the query's mean log-probability under the LLM (InPars-v1, default); "
                         "reranker: a reranker's score of (query, document) (InPars-v2)")
    ip.add_argument("--reranker", default="cross-encoder", metavar="SPEC",
                    help="reranker of --filter reranker: a reranker name, name=MODEL, or an ensemble a+b "
                         "(default: the kit cross-encoder; InPars-v2 uses monoT5-3B)")
    _generation_options(ip)
    ip.add_argument("--max-doc-tokens", type=int, default=256,
                    help="LLM tokens of each document in the prompt (default: 256, InPars')")
    ip.add_argument("--min-tokens", type=int, default=3, help="drop queries of fewer tokens (default: 3)")
    ip.add_argument("--max-query-tokens", type=int,
                    help="drop queries of more tokens (default: no limit; e.g. 32 drops answers that ran on)")
    ip.add_argument("--skip-copied", action="store_true", help="drop queries found verbatim in their document")
    ip.add_argument("--seed", type=int, default=1, help="sampling seed (default: 1, InPars')")
    ip.set_defaults(func=cmd_inpars)

    ex = train_sub.add_parser("export-onnx", help="export a cross-encoder or bi-encoder folder to int8 ONNX "
                                                  "(MODEL_DIR/onnx/)")
    ex.add_argument("model", metavar="MODEL_DIR", help="a cross-encoder or bi-encoder folder with transformers weights")
    ex.add_argument("--fp32", action="store_true", help="export without quantising")
    ex.set_defaults(func=cmd_export)


def _generation_options(p: argparse.ArgumentParser) -> None:
    """The LLM and few-shot example options shared by the query generators (duqgen, inpars)."""
    p.add_argument("--llm", default="HuggingFaceTB/SmolLM2-135M-Instruct", metavar="MODEL_OR_URL",
                   help="a local model name/path or an OpenAI-compatible URL (default: the kit's SmolLM2-135M)")
    p.add_argument("--llm-model", metavar="NAME", help="model to request from an --llm URL")
    p.add_argument("--examples", metavar="JSONL", help="few-shot examples: JSONL lines {\"document\", \"query\"}")
    p.add_argument("--examples-split", default="train",
                   help="labelled split to take the 3 few-shot examples from when --examples is not given")
    p.add_argument("--exclude-queries", metavar="FILE", help="query ids (first column) not to take examples from")
    p.add_argument("--resume", action="store_true",
                   help="continue a killed generation from its journal (OUTPUT.journal) instead of refusing it")


def _generation_kwargs(args) -> dict:
    from rankwise.train.duqgen import read_examples

    if args.llm_model and not args.llm.startswith(("http://", "https://")):
        raise ValueError("--llm-model applies to an --llm URL, not to a local model")
    return {
        "llm": args.llm,
        "llm_options": {"model": args.llm_model} if args.llm_model else None,
        "examples": read_examples(args.examples) if args.examples else None,
        "examples_split": args.examples_split,
        "exclude_queries": _read_ids(args.exclude_queries) if args.exclude_queries else (),
        "resume": args.resume,
    }


def _common(p: argparse.ArgumentParser, *, default_base: str, losses: list[str], default_loss: str,
            default_lr: float) -> None:
    p.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_DIR", help="folder to write the trained model to")
    p.add_argument("--split", default="train",
                   help="qrels split with the training judgments (default: train); 'none' for synthetic queries only")
    p.add_argument("--queries", metavar="FILE", help="train only on these query ids of the split (first column)")
    p.add_argument("--synthetic", metavar="JSONL",
                   help="synthetic queries from `rankwise train duqgen` or `train inpars`")
    p.add_argument("--base", help=f"model to start from: hub name, local folder or kit name (default: {default_base})")
    p.add_argument("--loss", default=default_loss, choices=losses, help=f"training loss (default: {default_loss})")
    p.add_argument("--teacher", action="append", metavar="RERANKER",
                   help="teacher for margin-mse, the false-negative guard and the 'teacher' curriculum: a reranker "
                        "name (cross-encoder, monot5, …) or dense, each optionally =MODEL; a+b or repeating the "
                        "option makes an ensemble")
    p.add_argument("--negatives", default="bm25", choices=["bm25", "dense", "hybrid"],
                   help="retriever that mines hard negatives (default: bm25)")
    p.add_argument("--num-negatives", type=int, help="negatives per positive (default: per loss)")
    p.add_argument("--depth", type=int, default=100, help="mine negatives from this top k (default: 100)")
    p.add_argument("--pick", default="random", choices=["random", "top", "bottom"],
                   help="which of the top k become negatives (default: random)")
    p.add_argument("--guard-margin", type=float, default=0.0,
                   help="false-negative guard: drop a candidate the teacher scores above the positive minus this "
                        "(default: 0)")
    p.add_argument("--curriculum", nargs="?", const=True, default=None, metavar="HEURISTIC",
                   choices=[True, "reciprank", "normscore", "kde", "teacher"],
                   help="weight examples easy to hard (MacAvaney et al. 2020): reciprank, normscore, kde or teacher "
                        "(default heuristic: teacher when there is one, else reciprank)")
    p.add_argument("--curriculum-end", type=int, default=20, help="iterations until all weights are 1 (default: 20)")
    p.add_argument("--batches-per-iteration", type=int, default=32,
                   help="batches in a curriculum iteration (default: 32, as the paper's code)")
    p.add_argument("--lora", type=int, metavar="RANK",
                   help="train LoRA adapters of this rank instead of every weight (pip install peft); the folder "
                        "holds the merged model and the adapter alone in adapter/")
    p.add_argument("--lora-alpha", type=float, help="LoRA scaling alpha (default: 2 x rank)")
    p.add_argument("--lora-dropout", type=float, default=0.1, help="dropout on the LoRA path (default: 0.1)")
    p.add_argument("--epochs", type=int, default=1, help="passes over the training rows (default: 1)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    p.add_argument("--max-length", type=int,
                   help="tokens per training input (default: the model's); the folder keeps the model's length")
    p.add_argument("--batch-size", type=int, default=16, help="rows per optimiser step (default: 16)")
    p.add_argument("--lr", type=float, default=default_lr, help=f"learning rate (default: {default_lr:g})")
    p.add_argument("--warmup", type=float, default=0.1, help="warm-up fraction of the steps (default: 0.1)")
    p.add_argument("--checkpoint-steps", type=int, default=100, help="save a checkpoint every N steps (default: 100)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted training from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace MODEL_DIR if it exists")
    p.add_argument("--score-cache", metavar="SQLITE", help="teacher score cache (default: "
                   "$RANKWISE_CACHE/teacher_scores.sqlite)")
    p.add_argument("--seed", type=int, default=12, help="random seed (default: 12)")


def _read_ids(path: str) -> list[str]:
    from rankwise.io import open_text

    with open_text(path) as f:
        ids = [line.split()[0] for line in f if line.strip() and not line.startswith("#")]
    if not ids:
        raise ValueError(f"{path}: no query ids (one per line, first column)")
    return ids


def cmd_train(args) -> int:
    from rankwise.train import train_bi_encoder, train_cross_encoder

    split = None if args.split.lower() == "none" else args.split
    options = dict(split=split, loss=args.loss, teacher=args.teacher, negatives=args.negatives,
                   num_negatives=args.num_negatives, depth=args.depth, pick=args.pick, guard_margin=args.guard_margin,
                   curriculum=args.curriculum, curriculum_end=args.curriculum_end,
                   batches_per_iteration=args.batches_per_iteration, epochs=args.epochs, max_steps=args.max_steps,
                   max_length=args.max_length, batch_size=args.batch_size, learning_rate=args.lr,
                   warmup_ratio=args.warmup, queries=_read_ids(args.queries) if args.queries else None,
                   synthetic=args.synthetic, checkpoint_steps=args.checkpoint_steps, resume=args.resume,
                   overwrite=args.overwrite, score_cache=args.score_cache, seed=args.seed, progress=True,
                   lora=args.lora, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout)
    if args.base:
        options["base"] = args.base
    if args.student == "cross-encoder":
        result = train_cross_encoder(args.dataset, args.output, onnx=args.onnx, **options)
    else:
        result = train_bi_encoder(args.dataset, args.output, scale=args.scale, onnx=args.onnx, **options)
    t = result.record["training"]
    print(f"trained {result.output}: {t['steps']} steps, {t['examples_per_second']} examples/s; "
          f"record in {result.output}/rankwise_training.json", file=sys.stderr)
    return 0


def cmd_duqgen(args) -> int:
    from rankwise.train.duqgen import generate_synthetic_queries

    result = generate_synthetic_queries(
        args.dataset, args.output, n=args.queries, clusters=args.clusters, encoder=args.encoder,
        retriever=args.retriever, filter_k=args.filter_k, max_doc_words=args.max_doc_words, seed=args.seed,
        log=lambda line: print(line, file=sys.stderr), **_generation_kwargs(args))
    print(f"kept {result.kept} of {result.generated} queries (pass rate {result.pass_rate:.1%}); "
          f"times {result.seconds}", file=sys.stderr)
    return 0


def cmd_inpars(args) -> int:
    from rankwise.train.inpars import generate_inpars_queries

    result = generate_inpars_queries(
        args.dataset, args.output, n=args.queries, keep=args.keep, filter=args.filter, reranker=args.reranker,
        max_doc_tokens=args.max_doc_tokens, min_tokens=args.min_tokens, max_query_tokens=args.max_query_tokens,
        skip_copied=args.skip_copied, seed=args.seed, log=lambda line: print(line, file=sys.stderr),
        **_generation_kwargs(args))
    print(f"kept {result.kept} of {result.generated} queries; times {result.seconds}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from rankwise.train.folder import export_onnx_int8

    path = export_onnx_int8(args.model, quantize=not args.fp32)
    print(f"wrote {path}", file=sys.stderr)
    return 0
