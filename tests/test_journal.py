"""The run journal: records survive, a torn last record is cut off and redone, damage and other settings are refused,
and the execution layer reuses journalled units (local backend; Ray is tested in test_ray.py)."""
from __future__ import annotations

import numpy as np
import pytest

from rankwise.distributed import Journal, JournalError, executing
from rankwise.distributed.units import Recipe, pack_arrays, unpack_arrays
from rankwise.pipeline import Reranker
from rankwise.types import Query, Ranking, Run

SETTINGS = {"command": "test", "model": "m", "k": 10}


def test_records_round_trip_exactly(tmp_path):
    path = tmp_path / "run.journal"
    values = {"a": [0.1, 1 / 3, -2.5e-300, 1e308], "b": {"text": "naïve ☃", "n": 3}}
    with Journal.open(path, SETTINGS) as journal:
        for key, value in values.items():
            journal.commit(key, value)
        journal.commit("blob", None, payload=b"\x00\x01binary")
    with Journal.open(path, SETTINGS, resume=True) as journal:
        assert journal.units() == ["a", "b", "blob"] and journal.redone == 0
        assert journal["a"] == values["a"] and journal["b"] == values["b"]  # floats bit-exact through JSON
        assert journal.payload("blob") == b"\x00\x01binary" and journal.payload("a") is None


def test_an_existing_journal_needs_resume_and_the_same_settings(tmp_path):
    path = tmp_path / "run.journal"
    Journal.open(path, SETTINGS).close()
    with pytest.raises(JournalError, match="interrupted run: pass --resume"):
        Journal.open(path, SETTINGS)
    with pytest.raises(JournalError, match=r"other settings \(k: journal 10 vs now 11\)"):
        Journal.open(path, {**SETTINGS, "k": 11}, resume=True)
    assert len(Journal.open(path, SETTINGS, resume=True)) == 0
    Journal.open(tmp_path / "fresh.journal", SETTINGS, resume=True).close()  # nothing to resume: starts fresh


@pytest.mark.parametrize("cut", ["partial", "garbled", "no-newline"])
def test_a_torn_last_record_is_cut_off_and_redone(tmp_path, cut):
    path = tmp_path / "run.journal"
    with Journal.open(path, SETTINGS) as journal:
        journal.commit("q1", [1.0])
        journal.commit("q2", [2.0])
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1  # start of q2's record
    if cut == "partial":
        path.write_bytes(data[: last + (len(data) - last) // 2])
    elif cut == "garbled":
        path.write_bytes(data[:-3] + b"9]\n")  # same length, wrong checksum
    else:
        path.write_bytes(data[:-1])  # every byte but the newline: still not trusted
    with Journal.open(path, SETTINGS, resume=True) as journal:
        assert journal.units() == ["q1"] and journal.redone == 1
        journal.commit("q2", [2.0])
    assert path.read_bytes() == data  # the redone record replaced the torn one
    assert Journal.open(path, SETTINGS, resume=True).units() == ["q1", "q2"]


def test_damage_before_good_records_is_refused(tmp_path):
    path = tmp_path / "run.journal"
    with Journal.open(path, SETTINGS) as journal:
        for key in ("q1", "q2", "q3"):
            journal.commit(key, key)
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"q2", b"qX")
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match=r"line 3: damaged record .* followed by good ones"):
        Journal.open(path, SETTINGS, resume=True)


def test_a_payload_that_does_not_match_its_checksum_is_redone(tmp_path):
    path = tmp_path / "run.journal"
    with Journal.open(path, SETTINGS) as journal:
        journal.commit("s0", None, payload=pack_arrays(v=np.arange(4, dtype=np.float32)))
        journal.commit("s1", None, payload=b"good")
    (blob,) = [f for f in (tmp_path / "run.journal.d").iterdir() if f.read_bytes() == b"good"]
    blob.write_bytes(b"evil")
    with Journal.open(path, SETTINGS, resume=True) as journal:
        assert journal.units() == ["s0"] and journal.redone == 1
        assert unpack_arrays(journal.payload("s0"))["v"].tolist() == [0, 1, 2, 3]
        journal.finish()
    assert not path.exists() and not (tmp_path / "run.journal.d").exists()


def test_not_a_journal(tmp_path):
    path = tmp_path / "x.journal"
    path.write_text('{"format": "something else"}\n')
    with pytest.raises(JournalError, match="no readable header"):
        Journal.open(path, SETTINGS, resume=True)


# --- the execution layer on one process ----------------------------------------------------------------------------
class CountingReranker(Reranker):
    """Scores a text by its length; counts the queries it scored (so reuse from the journal is visible)."""

    name = "counting"

    def __init__(self):
        self.seen: list[str] = []

    def score(self, query, texts):
        self.seen.append(query.qid)
        return np.array([len(t) + 1 / 3 for t in texts])


def _candidates():
    queries = [Query(f"q{i}", f"query {i}") for i in range(5)] + [Query("empty", "no candidates")]
    run = Run(Ranking(q.qid, [f"d{j}" for j in range(4)], np.zeros(4), [f"{q.text} " + "x" * j for j in (3, 1, 4, 2)])
              for q in queries[:5])
    return queries, run


def test_units_are_journalled_and_reused(tmp_path):
    queries, run = _candidates()
    plain = CountingReranker()(queries, run)
    path = tmp_path / "r.journal"
    first = CountingReranker()
    with executing(journal=path, settings=SETTINGS, unit_size=2) as execution:
        assert first(queries, run) == plain
    assert execution.computed == 3 and first.seen == ["q0", "q1", "q2", "q3", "q4"]
    # Keep the first unit only, as if the run had been killed after it.
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:2]) + b"\n")
    second = CountingReranker()
    with executing(journal=path, resume=True, settings=SETTINGS, unit_size=2) as execution:
        again = second(queries, run)
    assert execution.reused == 1 and second.seen == ["q2", "q3", "q4"]
    assert list(again) == list(plain) and all(again[q] == plain[q] for q in plain)
    assert again["q0"].texts == plain["q0"].texts  # texts come back from the candidates
    assert len(again["empty"]) == 0


def test_recipe_passes_overrides():
    recipe = Recipe(dict, a=1)
    assert recipe() == {"a": 1} and recipe(a=2, b=3) == {"a": 2, "b": 3}


class ReverseReranker(CountingReranker):
    name = "counting"  # the same name on purpose: steps, not names, keep units apart

    def score(self, query, texts):
        return -super().score(query, texts)


def test_two_rerankers_of_one_pipeline_keep_their_own_units(tmp_path):
    queries, run = _candidates()
    pipeline = CountingReranker() >> ReverseReranker()
    plain = pipeline(queries, run)
    path = tmp_path / "p.journal"
    with executing(journal=path, settings=SETTINGS):
        first = pipeline(queries, run)
    with executing(journal=path, resume=True, settings=SETTINGS) as execution:
        again = pipeline(queries, run)  # every unit of both steps read back
    assert execution.reused == 10 and execution.computed == 0
    assert all(first[q] == plain[q] and again[q] == plain[q] for q in plain)
    assert plain["q0"].docids == list(reversed(CountingReranker()(queries, run)["q0"].docids))
