"""Run settings: a JSON file beside a run that rankwise wrote, saying what produced it.

A TREC run has no place for settings (trec_eval reads every line as ``qid Q0 docid rank score tag``, and a comment
line would break it), so the settings go into a sidecar, ``RUN.rankwise.json``::

    {"format": "rankwise-run-info/1", "rankwise": "0.1.0", "created": "2025-01-01T12:00:00+00:00",
     "run": "reranked.run", "tag": "rankwise-cross-encoder", "queries": 43, "candidates": 4300,
     "sha256": "…", "command": ["rankwise", "rerank", …], "stage": "CrossEncoderReranker(model=…)",
     "parameters": {"top_k": 100, …}, "costs": "costs.jsonl"}

``sha256`` is the run file's digest when the sidecar was written: :func:`read_run_info` says when the run has
changed since (then the settings may not describe it). ``costs`` (LLM rerankers) is the cost log's path relative
to the run's folder.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from rankwise.io.files import FormatError, PathLike

FORMAT = "rankwise-run-info/1"
SUFFIX = ".rankwise.json"


def run_info_path(run_path: PathLike) -> Path:
    """Where the settings of the run at ``run_path`` are kept: ``RUN.rankwise.json``."""
    run_path = Path(run_path)
    return run_path.with_name(run_path.name + SUFFIX)


def file_sha256(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_run_info(run_path: PathLike, run, tag: str, info: Mapping[str, Any]) -> Path:
    """Write the sidecar of a run just written to ``run_path``; ``info`` adds what produced it (``command``,
    ``stage``, ``parameters``, ``costs``…). Values that JSON cannot hold are written as their ``repr``."""
    from rankwise import __version__

    run_path = Path(run_path)
    record = {
        "format": FORMAT,
        "rankwise": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": run_path.name,
        "tag": tag,
        "queries": len(run),
        "candidates": run.num_candidates,
        "sha256": file_sha256(run_path),
    }
    record.update({k: v for k, v in info.items() if v is not None})
    if record.get("costs"):  # relative to the run's folder, so that both can move together
        costs = Path(record["costs"]).resolve()
        try:
            record["costs"] = os.path.relpath(costs, run_path.resolve().parent)
        except ValueError:  # another drive (Windows)
            record["costs"] = str(costs)
    path = run_info_path(run_path)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False, default=repr) + "\n", encoding="utf-8")
    return path


def read_run_info(run_path: PathLike) -> dict[str, Any] | None:
    """The settings rankwise recorded for the run at ``run_path``, or None when there are none (the run was not
    written by rankwise). Adds ``"stale": True`` when the run file has changed since; a ``costs`` path is made
    absolute."""
    path = run_info_path(run_path)
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError(path, e.lineno, f"not valid JSON ({e.msg}); delete it or write the run again") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise FormatError(path, None, f"not a rankwise run-info file (expected \"format\": {FORMAT!r})")
    info["stale"] = info.get("sha256") != file_sha256(run_path)
    if info.get("costs"):
        info["costs"] = str((Path(run_path).resolve().parent / info["costs"]).resolve())
    return info
