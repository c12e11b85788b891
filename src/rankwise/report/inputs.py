"""A report's inputs from files: runs with their recorded settings, texts for the drill-down, LLM cost logs."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from rankwise.io import read_candidates, read_run, read_run_info
from rankwise.io.beir import _find, read_queries_jsonl
from rankwise.io.files import PathLike
from rankwise.io.jsonl import field, read_jsonl
from rankwise.report.assemble import RunSource
from rankwise.types import Document, Run


def run_labels(paths: Sequence[PathLike]) -> list[str]:
    """The runs' names: their file names, with as many parent folders as it takes to tell apart files of one name
    (``a/bm25.run``, ``b/bm25.run``)."""
    parts = [Path(p).resolve().parts for p in paths]
    labels = [Path(p).name for p in paths]
    for depth in range(2, max(map(len, parts), default=1) + 1):
        clash = {label for label in labels if labels.count(label) > 1}
        if not clash:
            break
        labels = ["/".join(pp[-depth:]) if label in clash else label for label, pp in zip(labels, parts)]
    return labels


def read_runs(paths: Sequence[PathLike], names: Sequence[str] | None = None,
              lenient: bool = False) -> tuple[dict[str, Run], dict[str, RunSource]]:
    """Runs by name (``run_labels`` unless ``names`` are given, as ``rankwise compare`` names them), and their
    sources: file and the settings rankwise recorded when it wrote the run."""
    if names is not None and len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} runs; give one name per run")
    labels = list(names) if names is not None else run_labels(paths)
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"two runs are named {repeated[0]!r}; give each its own name with --names")
    runs, sources = {}, {}
    for label, path in zip(labels, paths):
        runs[label] = read_run(path, strict=not lenient, name=label)
        sources[label] = RunSource(str(path), read_run_info(path))
    return runs, sources


def texts_from_candidates(path: PathLike) -> tuple[dict[str, str], dict[str, str]]:
    """``({qid: query text}, {docid: passage})`` from RankGPT-style candidate JSON."""
    queries, run = read_candidates(path)
    documents = {}
    for ranking in run.values():
        documents.update(zip(ranking.docids, ranking.texts))
    return {q.qid: q.text for q in queries}, documents


def texts_from_beir(folder: PathLike, docids: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Query texts and the texts (title and text) of ``docids`` from a BEIR folder; the corpus is streamed, so only
    the documents asked for are kept."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (--dataset takes a BEIR folder)")
    queries = {q.qid: q.text for q in read_queries_jsonl(_find(folder, "queries.jsonl"))}
    wanted = set(docids)
    documents = {}
    corpus = _find(folder, "corpus.jsonl")
    for number, obj in read_jsonl(corpus):
        docid = field(corpus, number, obj, "_id")
        if docid in wanted:
            title = field(corpus, number, obj, "title", required=False)
            documents[docid] = Document(docid, field(corpus, number, obj, "text"), title).contents
    return queries, documents


def match_costs(specs: Sequence[str], runs: Mapping[str, Run],
                sources: Mapping[str, RunSource]) -> dict[str, str]:
    """Which cost log belongs to which run: ``NAME=FILE`` names the run (by name or file); a bare ``FILE`` goes to
    the run whose recorded settings name it. Runs whose settings name a cost log that exists get it without
    being asked."""
    by_path = {str(Path(s.path).resolve()): name for name, s in sources.items() if s.path}
    out: dict[str, str] = {}
    for name, source in sources.items():
        recorded = (source.settings or {}).get("costs")
        if recorded and Path(recorded).is_file():
            out[name] = recorded
        elif recorded:
            warnings.warn(f"run {name!r}: its settings name the cost log {recorded}, which is not there; its LLM "
                          "costs are not shown (give --costs NAME=FILE)", stacklevel=2)
    for spec in specs:
        name, sep, path = spec.rpartition("=")
        if sep:
            key = name if name in runs else by_path.get(str(Path(name).resolve()))
            if key is None:
                raise ValueError(f"--costs {spec}: {name!r} is not one of the runs {list(runs)}")
        else:
            wanted = str(Path(path).resolve())
            owners = [n for n, s in sources.items() if (s.settings or {}).get("costs") == wanted]
            if not owners:
                raise ValueError(f"--costs {spec}: no run's recorded settings name this cost log; "
                                 f"say which run it belongs to with NAME=FILE (runs: {list(runs)})")
            key = owners[0]
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such cost log (--costs)")
        out[key] = path
    return out


def candidate_docids(runs: Mapping[str, Run], depth: int) -> set[str]:
    """Every document in the first ``depth`` ranks of any run: the ones a drill-down may show."""
    return {docid for run in runs.values() for ranking in run.values() for docid in ranking.docids[:depth]}




def report_files(runs: Sequence[PathLike], qrels: PathLike, metrics=None, *, names: Sequence[str] | None = None,
                 baseline: str | int = 0, dataset: PathLike | None = None, candidates: PathLike | None = None,
                 costs: Sequence[str] = (), lenient: bool = False, drilldown_rows: int = 10, **options):
    """:func:`rankwise.report.build_report` on files, as ``rankwise report`` and ``rankwise compare --html`` call it.

    ``baseline`` is a run's name, one of the run files, or another run file (then compared first, as ``compare
    --baseline`` does). Texts for the drill-down come from ``candidates`` (RankGPT-style JSON) or ``dataset`` (a BEIR
    folder); ``costs`` are ``[NAME=]FILE`` cost logs (see :func:`match_costs`). ``options`` are build_report's.
    """
    from rankwise.evaluate.metrics import DEFAULT_METRICS
    from rankwise.io import read_qrels
    from rankwise.report.assemble import build_report

    paths = [str(p) for p in runs]
    labels = list(names) if names is not None else run_labels(paths)
    if isinstance(baseline, str) and baseline not in labels:
        resolved = [Path(p).resolve() for p in paths]
        if Path(baseline).resolve() in resolved:
            baseline = resolved.index(Path(baseline).resolve())
        elif Path(baseline).is_file():
            paths, baseline = [baseline] + paths, 0
            labels = run_labels(paths) if names is None else [Path(paths[0]).name] + labels
        else:
            raise ValueError(f"baseline {baseline!r} is neither one of the runs {labels} nor a run file")
    run_map, sources = read_runs(paths, labels, lenient)
    if len(run_map) < 2:
        raise ValueError("a report compares at least two runs (or one run and --baseline RUN)")
    queries = documents = None
    if candidates is not None:
        queries, documents = texts_from_candidates(candidates)
    elif dataset is not None:
        queries, documents = texts_from_beir(dataset, candidate_docids(run_map, drilldown_rows))
    return build_report(run_map, read_qrels(qrels), metrics or DEFAULT_METRICS, baseline=baseline,
                        queries=queries, documents=documents, costs=match_costs(costs, run_map, sources),
                        sources=sources, drilldown_rows=drilldown_rows, qrels_name=str(qrels), **options)
