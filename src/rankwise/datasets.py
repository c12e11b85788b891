"""Test collections by folder or by name.

``load("path/to/folder")`` reads a local BEIR folder. ``load("scifact")`` / ``load("beir/scifact")`` downloads BEIR's
public archive once into the cache (``$RANKWISE_CACHE`` or ``~/.cache/rankwise``) and reads it from there afterwards.
``load("msmarco-passage/trec-dl-2019/judged")`` and other ir_datasets ids go through ir_datasets
(``pip install rankwise[datasets]``), which keeps its own cache. ``load("demo")`` is the small collection that ships
inside the package.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator

from rankwise.io.beir import read_beir
from rankwise.progress import progress_enabled
from rankwise.types import Dataset, Document, Qrels, Query

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
BEIR_NAMES = (
    "arguana", "climate-fever", "cqadupstack", "dbpedia-entity", "fever", "fiqa", "hotpotqa", "msmarco",
    "nfcorpus", "nq", "quora", "scidocs", "scifact", "trec-covid", "webis-touche2020",
)
DEMO_PATH = Path(__file__).parent / "demo_data"


def cache_dir() -> Path:
    return Path(os.environ.get("RANKWISE_CACHE", Path.home() / ".cache" / "rankwise"))


def load(name_or_path: str | os.PathLike, split: str | None = "test") -> Dataset:
    """A collection with its queries and judgments for ``split`` (see the module docs for the accepted names)."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        return read_beir(path, split)
    if text == "demo":
        dataset = read_beir(DEMO_PATH, split)
        dataset.name = "demo"
        return dataset
    beir_name = text[len("beir/"):] if text.startswith("beir/") else text
    if beir_name in BEIR_NAMES:
        return read_beir(download_beir(beir_name), split)
    if "/" in text:
        return load_ir_datasets(text)
    raise ValueError(
        f"{text!r} is neither an existing folder nor a known collection. Pass a BEIR folder, 'demo', "
        f"a BEIR name ({', '.join(BEIR_NAMES)}), or an ir_datasets id such as 'msmarco-passage/trec-dl-2019/judged'."
    )


def download_beir(name: str) -> Path:
    """Download and unpack BEIR's archive of ``name`` into the cache once; returns the folder."""
    target = cache_dir() / "beir" / name
    if (target / "corpus.jsonl").exists():
        return target
    url = os.environ.get("RANKWISE_BEIR_URL", BEIR_URL).format(name=name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / f"{name}.zip"
        try:
            _fetch(url, archive)
        except (urllib.error.URLError, OSError) as e:
            raise ConnectionError(
                f"could not download BEIR {name!r} from {url} ({getattr(e, 'reason', e)}). If this machine is offline, "
                f"download that archive elsewhere, unzip it, and pass the folder: rankwise.datasets.load('/path/to/{name}')"
            ) from None
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        except zipfile.BadZipFile:
            raise ValueError(f"the file downloaded from {url} is not a zip archive") from None
        unpacked = Path(tmp) / name
        if not (unpacked / "corpus.jsonl").exists():
            raise ValueError(f"the archive from {url} has no {name}/corpus.jsonl inside")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    return target


def _fetch(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=30) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        bar = None
        if progress_enabled():
            from tqdm.auto import tqdm

            bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=f"download {dest.name}", leave=False)
        while chunk := response.read(1 << 20):
            out.write(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()


class DocStoreCorpus(Mapping):
    """A corpus read on demand from an ir_datasets docs store (MS MARCO has 8.8M passages: never all in memory)."""

    def __init__(self, dataset):
        self._dataset = dataset
        self._store = dataset.docs_store()

    def __getitem__(self, docid: str) -> Document:
        try:
            doc = self._store.get(docid)
        except KeyError:
            raise KeyError(docid) from None
        return _to_document(doc)

    def __iter__(self) -> Iterator[str]:
        return (doc.doc_id for doc in self._dataset.docs_iter())

    def __len__(self) -> int:
        return self._dataset.docs_count()


def _to_document(doc) -> Document:
    title = getattr(doc, "title", "") or ""
    text = getattr(doc, "text", None) or getattr(doc, "body", "") or ""
    return Document(doc.doc_id, text, title)


def load_ir_datasets(dataset_id: str) -> Dataset:
    """Queries, qrels and a lazily read corpus of an ir_datasets collection."""
    try:
        import ir_datasets
    except ImportError:
        raise ImportError(
            f"loading {dataset_id!r} needs ir_datasets: pip install 'rankwise[datasets]'"
        ) from None
    try:
        ds = ir_datasets.load(dataset_id)
    except KeyError:
        raise ValueError(f"ir_datasets knows no collection {dataset_id!r}") from None
    queries = [Query(q.query_id, getattr(q, "text", None) or q.title) for q in ds.queries_iter()]
    qrels = Qrels()
    if ds.has_qrels():
        for qrel in ds.qrels_iter():
            qrels.setdefault(qrel.query_id, {})[qrel.doc_id] = int(qrel.relevance)
        queries = [q for q in queries if q.qid in qrels]
    return Dataset(dataset_id, DocStoreCorpus(ds), queries, qrels or None)
