"""Loading collections by folder and by name: the download-and-cache path runs for real against a local server."""
from __future__ import annotations

import functools
import http.server
import io
import socket
import threading
import zipfile

import pytest
from conftest import shared_path

from rankwise import datasets


def beir_zip(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"{name}/corpus.jsonl", '{"_id": "d1", "title": "T", "text": "hello world"}\n')
        z.writestr(f"{name}/queries.jsonl", '{"_id": "q1", "text": "hello"}\n{"_id": "q2", "text": "other"}\n')
        z.writestr(f"{name}/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return buffer.getvalue()


@pytest.fixture
def archive_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "scifact.zip").write_bytes(beir_zip("scifact"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{{name}}.zip", served
    server.shutdown()


def test_download_once_then_read_from_cache(tmp_path, monkeypatch, archive_server):
    url, served = archive_server
    monkeypatch.setenv("RANKWISE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RANKWISE_BEIR_URL", url)
    ds = datasets.load("beir/scifact")
    assert [q.qid for q in ds.queries] == ["q1"] and ds.corpus["d1"].title == "T"
    assert (tmp_path / "cache" / "beir" / "scifact" / "corpus.jsonl").exists()
    (served / "scifact.zip").unlink()  # the second load must not need the network
    assert datasets.load("scifact", split=None).queries[1].qid == "q2"


def test_offline_error_says_what_to_do(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RANKWISE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RANKWISE_BEIR_URL", f"http://127.0.0.1:{port}/{{name}}.zip")
    with pytest.raises(ConnectionError, match=r"could not download BEIR 'nfcorpus'.*pass the folder"):
        datasets.load("nfcorpus")


def test_not_a_zip(tmp_path, monkeypatch, archive_server):
    url, served = archive_server
    (served / "fiqa.zip").write_text("<html>moved</html>")
    monkeypatch.setenv("RANKWISE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RANKWISE_BEIR_URL", url)
    with pytest.raises(ValueError, match="not a zip archive"):
        datasets.load("fiqa")


def test_unknown_name():
    with pytest.raises(ValueError, match="neither an existing folder nor a known collection"):
        datasets.load("no-such-collection")


def test_local_folder_and_demo():
    scifact = datasets.load(shared_path("scifact"))
    assert len(scifact.queries) == 300
    demo = datasets.load("demo")
    judged = {d for v in demo.qrels.values() for d in v}
    assert demo.queries and judged <= set(demo.corpus)
