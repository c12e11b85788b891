"""ScoreCache: scores come back only for the same model and the same texts, persist across processes, and survive a
writer killed mid-write (every committed batch whole, no batch half-written, the file intact)."""
from __future__ import annotations

import hashlib
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rankwise.rerank.cache import ScoreCache, pair_digest

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_scores_come_back_for_the_same_model_and_texts_only(tmp_path):
    with ScoreCache(tmp_path / "c.sqlite") as cache:
        cache.put("model-a", ["q1", "q1", "q2"], ["doc x", "doc y", "doc x"], [1.5, -2.0, 0.25])
        np.testing.assert_array_equal(cache.get("model-a", ["q1", "q2", "q1"], ["doc y", "doc x", "doc x"]),
                                      [-2.0, 0.25, 1.5])
        assert np.isnan(cache.get("model-b", ["q1"], ["doc x"])).all()  # another model
        assert np.isnan(cache.get("model-a", ["q1"], ["doc x "])).all()  # another text (one space more)
        assert np.isnan(cache.get("model-a", ["q3"], ["doc x"])).all()  # another query
        assert cache.count("model-a") == 3 and cache.count("model-b") == 0 and len(cache) == 3
        assert cache.models() == ["model-a"]


def test_the_boundary_between_query_and_text_is_part_of_the_key(tmp_path):
    assert pair_digest("ab", "c") != pair_digest("a", "bc")
    with ScoreCache(tmp_path / "c.sqlite") as cache:
        cache.put("m", ["ab"], ["c"], [1.0])
        assert np.isnan(cache.get("m", ["a"], ["bc"])[0])


def test_scores_persist_across_opening_and_a_new_score_replaces_the_old(tmp_path):
    path = tmp_path / "nested" / "c.sqlite"  # parent folders are created
    with ScoreCache(path) as cache:
        cache.put("m", ["q"], ["t"], [0.5])
    with ScoreCache(path) as cache:
        assert cache.get("m", ["q"], ["t"])[0] == 0.5
        cache.put("m", ["q"], ["t"], [0.75])
        assert cache.get("m", ["q"], ["t"])[0] == 0.75 and len(cache) == 1


def test_repeated_pairs_and_many_lookups(tmp_path):
    n = 1_234  # more than one SELECT … IN (…) chunk
    queries, texts = [f"q{i % 7}" for i in range(n)], [f"text {i}" for i in range(n)]
    with ScoreCache(tmp_path / "c.sqlite") as cache:
        cache.put("m", queries, texts, np.arange(n) / 10)
        got = cache.get("m", queries + queries[:3], texts + texts[:3])
    np.testing.assert_array_equal(got, np.concatenate([np.arange(n) / 10, np.arange(3) / 10]))


def test_bad_input_is_refused(tmp_path):
    with ScoreCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(ValueError, match="not finite"):
            cache.put("m", ["q", "q"], ["a", "b"], [1.0, math.nan])
        assert len(cache) == 0  # nothing of the refused batch was written
        with pytest.raises(ValueError, match="2 queries but 1 texts"):
            cache.get("m", ["q", "q"], ["a"])
        with pytest.raises(ValueError, match="2 pairs but 1 scores"):
            cache.put("m", ["q", "q"], ["a", "b"], [1.0])
        with pytest.raises(ValueError, match="model key"):
            cache.put("", ["q"], ["a"], [1.0])
    with pytest.raises(IsADirectoryError, match="folder"):
        ScoreCache(tmp_path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not an SQLite database, just bytes " * 100)
    with pytest.raises(ValueError, match="not a usable score cache"):
        ScoreCache(junk)


def test_file_digest_is_the_sha256_of_the_bytes_and_follows_changes(tmp_path):
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights v1")
    with ScoreCache(tmp_path / "c.sqlite") as cache:
        assert cache.file_digest(weights) == hashlib.sha256(b"weights v1").hexdigest()
        weights.write_bytes(b"weights v2, longer")
        assert cache.file_digest(weights) == hashlib.sha256(b"weights v2, longer").hexdigest()


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {src!r})
    from rankwise.rerank.cache import ScoreCache
    cache = ScoreCache({path!r})
    texts = ["passage %d " % j + "x" * 200 for j in range(200)]
    for batch in range(100_000):
        cache.put("model", ["query %d" % batch] * 200, texts, [batch + j / 1000 for j in range(200)])
        print(batch, flush=True)
""")


def test_a_writer_killed_mid_write_leaves_every_committed_batch_whole(tmp_path):
    path = tmp_path / "c.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(src=SRC, path=str(path))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    committed = -1
    deadline = time.monotonic() + 60
    try:
        while committed < 20 and time.monotonic() < deadline:  # let it commit some batches, then kill it
            line = proc.stdout.readline()
            if not line:
                break
            committed = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no clean-up of any kind: as a crash or `kill -9` would
        proc.wait()
    assert committed >= 20, proc.stderr.read()

    with ScoreCache(path) as cache:
        assert cache._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        texts = ["passage %d " % j + "x" * 200 for j in range(200)]
        stored = len(cache)
        assert stored % 200 == 0  # batches are all-or-nothing
        batches = stored // 200
        assert batches >= committed + 1  # every batch reported as committed is there
        for batch in (0, committed, batches - 1):
            np.testing.assert_array_equal(cache.get("model", ["query %d" % batch] * 200, texts),
                                          [batch + j / 1000 for j in range(200)])
        assert np.isnan(cache.get("model", ["query %d" % batches] * 200, texts)).all()
        cache.put("model", ["after"], ["the crash"], [1.0])  # and the file is still writable
        assert cache.get("model", ["after"], ["the crash"])[0] == 1.0
