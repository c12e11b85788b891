"""Readers and writers for the formats of the field. Every reader names file, line and problem on bad input
(:class:`FormatError`) and reads gzip transparently."""
from rankwise.io.beir import (
    beir_splits,
    read_beir,
    read_corpus_jsonl,
    read_queries_jsonl,
    write_beir,
)
from rankwise.io.candidates import read_candidates, write_candidates
from rankwise.io.files import FormatError, open_text
from rankwise.io.jsonl import read_jsonl, write_jsonl
from rankwise.io.runinfo import read_run_info, run_info_path
from rankwise.io.trec import (
    iter_trec_docs,
    read_qrels,
    read_run,
    read_topics,
    read_trec_docs,
    write_qrels,
    write_run,
    write_topics,
)

__all__ = [
    "FormatError", "open_text",
    "read_run", "write_run", "read_qrels", "write_qrels", "read_topics", "write_topics",
    "read_trec_docs", "iter_trec_docs",
    "read_beir", "write_beir", "beir_splits", "read_corpus_jsonl", "read_queries_jsonl",
    "read_candidates", "write_candidates",
    "read_jsonl", "write_jsonl",
    "read_run_info", "run_info_path",
]
