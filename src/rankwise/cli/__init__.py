"""The ``rankwise`` command: a thin shell over the library (every subcommand is a few library calls).

Each module here registers a group of subcommands (``register(sub)``) and holds their ``cmd_*`` functions.
Expected failures print one line, ``rankwise: error: …``, and exit 2; ``RANKWISE_DEBUG=1`` shows the traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

from rankwise.cli import evaluation, rag, report, retrieval, serve, train
from rankwise.errors import EXPECTED_ERRORS

EPILOG = """\
examples:
  rankwise demo                                         BM25 then reranking on the built-in collection
  rankwise retrieve data/scifact -o bm25.run            BM25 top-1000 for the test queries of a BEIR folder
  rankwise rerank bm25_top100.json --reranker bm25 -o reranked.run
  rankwise evaluate bm25.run data/scifact/qrels/test.tsv -m ndcg_cut_10 map
  rankwise compare bm25.run reranked.run --qrels qrels.txt -l 2 --test permutation
  rankwise report bm25.run reranked.run --qrels qrels.txt --candidates bm25_top100.json -o report.html
  rankwise serve --reranker cross-encoder --port 8080    Cohere/Jina/TEI-compatible rerank service
  rankwise rag data/hotpotqa --reranker cross-encoder -o answers.jsonl
  rankwise evaluate-answers answers.jsonl data/hotpotqa
  rankwise train cross-encoder data/scifact --split train --loss lambda -o models/ce
"""

# The subcommand groups, in the order `rankwise --help` lists them.
COMMAND_MODULES = (retrieval, evaluation, rag, train, report, serve)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with the runs a command writes
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = os.environ.get("RANKWISE_DEBUG", "") not in ("", "0")
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("rankwise: interrupted", file=sys.stderr)
        return 130
    except EXPECTED_ERRORS as e:
        if debug:
            raise
        print(f"rankwise: error: {error_message(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a fault of rankwise: still one line, with how to get the details
        if debug:
            raise
        print(f"rankwise: internal error: {type(e).__name__}: {error_message(e)} (run again with RANKWISE_DEBUG=1 "
              "for the traceback, and please report it)", file=sys.stderr)
        return 1


def error_message(e: BaseException) -> str:
    """One line for a person: KeyError's repr quotes are dropped; OS errors name the file."""
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e) or type(e).__name__


def build_parser() -> argparse.ArgumentParser:
    from rankwise import __version__

    parser = argparse.ArgumentParser(
        prog="rankwise",
        description="Retrieve, rerank, evaluate and generate: BM25, dense and learned sparse retrieval, rerankers, "
                    "trec_eval-exact metrics and significance tests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rankwise {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


__all__ = ["main", "build_parser", "error_message"]
