"""Rank fusion: every method on small hand-computed examples (exact scores and orders, ties, missing documents,
one-query runs), the pipeline stages, learning weights on training queries only, the file front end, and a
cross-check against ranx's independent implementation on real DL19 runs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import shared_path

from rankwise import Query, Ranking, Run
from rankwise.fuse import (
    Fuse,
    FusionSetting,
    Precomputed,
    ensemble,
    fuse,
    fuse_files,
    fuse_runs,
    learn_fusion,
    normalize,
    read_query_ids,
    weight_grid,
)
from rankwise.io import read_run, write_qrels, write_run
from rankwise.pipeline import Reranker, Retriever
from rankwise.types import Qrels

# Two runs over one query "q". A: d1 10, d2 6, d3 2. B: d3 0.9, d1 0.5, d4 0.1 (d2 missing from B, d4 from A).
A = Run([Ranking("q", ["d1", "d2", "d3"], [10.0, 6.0, 2.0])], name="A")
B = Run([Ranking("q", ["d3", "d1", "d4"], [0.9, 0.5, 0.1])], name="B")


def fused(method, runs=(A, B), **options):
    ranking = fuse_runs(list(runs), method, **options)["q"]
    return ranking.docids, ranking.scores.tolist()


# --- each method by hand ------------------------------------------------------------------------------------------
def test_rrf_by_hand():
    docids, scores = fused("rrf")
    # d1: ranks 1 and 2; d3: ranks 3 and 1; d2: rank 2 in A only; d4: rank 3 in B only.
    assert docids == ["d1", "d3", "d2", "d4"]
    assert scores == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63], abs=1e-15)


def test_rrf_k_changes_scores_and_order():
    # k = 0: d1 = 1 + 1/2 = 1.5, d3 = 1/3 + 1 = 1.333, d2 = 1/2, d4 = 1/3
    docids, scores = fused("rrf", rrf_k=0)
    assert docids == ["d1", "d3", "d2", "d4"]
    assert scores == pytest.approx([1.5, 4 / 3, 0.5, 1 / 3], abs=1e-15)


def test_weighted_rrf_by_hand():
    # weights A 1, B 3: d3 = 1/63 + 3/61 overtakes d1 = 1/61 + 3/62; d4 = 3/63 overtakes d2 = 1/62.
    docids, scores = fused("rrf", weights=[1, 3])
    assert docids == ["d3", "d1", "d4", "d2"]
    assert scores == pytest.approx([1 / 63 + 3 / 61, 1 / 61 + 3 / 62, 3 / 63, 1 / 62], abs=1e-15)


def test_weights_by_run_name():
    by_name = fuse_runs({"A": A, "B": B}, "rrf", weights={"B": 3, "A": 1})["q"]
    assert by_name == fuse_runs([A, B], "rrf", weights=[1, 3])["q"]


def test_borda_by_hand():
    # 4 distinct documents: rank r earns 4 - r + 1 points; a missing document earns nothing from that run.
    docids, scores = fused("borda")
    assert docids == ["d1", "d3", "d2", "d4"]
    assert scores == [4 + 3, 2 + 4, 3, 2]


def test_combsum_minmax_by_hand():
    # min-max: A d1 1, d2 .5, d3 0; B d3 1, d1 .5, d4 0. d1 1.5, d3 1, d2 .5, d4 0.
    docids, scores = fused("combsum")  # minmax is the default normalisation
    assert docids == ["d1", "d3", "d2", "d4"]
    assert scores == [1.5, 1.0, 0.5, 0.0]


def test_combmnz_by_hand():
    docids, scores = fused("combmnz", norm="minmax")
    assert docids == ["d1", "d3", "d2", "d4"]
    assert scores == [3.0, 2.0, 0.5, 0.0]  # d1 and d3 are in both runs: their sums count twice


def test_combanz_by_hand_with_a_tie():
    # d1 (1 + .5) / 2 = .75; d3 (0 + 1) / 2 = .5 ties d2 .5 / 1: the tie goes to the higher docid (trec_eval).
    docids, scores = fused("combanz", norm="minmax")
    assert docids == ["d1", "d3", "d2", "d4"]
    assert scores == [0.75, 0.5, 0.5, 0.0]


def test_combmax_by_hand_with_a_tie():
    docids, scores = fused("combmax", norm="minmax")
    assert docids == ["d3", "d1", "d2", "d4"]  # d1 and d3 both 1: d3 first
    assert scores == [1.0, 1.0, 0.5, 0.0]


def test_combsum_raw_scores():
    docids, scores = fused("combsum", norm="none")
    assert docids == ["d1", "d2", "d3", "d4"]
    assert scores == pytest.approx([10.5, 6.0, 2.9, 0.1], abs=1e-12)


def test_combsum_sum_normalisation_by_hand():
    # A: shifted 8, 4, 0 over 12; B: shifted .8, .4, 0 over 1.2 -> both 2/3, 1/3, 0.
    docids, scores = fused("combsum", norm="sum")
    assert docids == ["d1", "d3", "d2", "d4"]
    assert scores == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0], abs=1e-12)


def test_combsum_rank_normalisation_by_hand():
    docids, scores = fused("combsum", norm="rank")  # (n - rank + 1) / n with n = 3 in each run
    assert docids == ["d1", "d3", "d2", "d4"]
    assert scores == pytest.approx([1 + 2 / 3, 1 / 3 + 1, 2 / 3, 1 / 3], abs=1e-12)


def test_combsum_zscore_by_hand():
    # A: 3, 2, 1 -> mean 2, population std sqrt(2/3); B: 5, 1 -> mean 3, std 2.
    a = Run([Ranking("q", ["x", "y", "z"], [3.0, 2.0, 1.0])], name="a")
    b = Run([Ranking("q", ["z", "w"], [5.0, 1.0])], name="b")
    s = math.sqrt(2 / 3)
    ranking = fuse_runs([a, b], "combsum", norm="zscore")["q"]
    assert ranking.to_dict() == pytest.approx({"x": 1 / s, "y": 0.0, "z": -1 / s + 1.0, "w": -1.0}, abs=1e-12)
    assert ranking.docids == ["x", "y", "z", "w"]


def test_normalisations_of_equal_scores_and_empty_rankings():
    assert normalize(np.array([2.0, 2.0]), "minmax").tolist() == [1.0, 1.0]
    assert normalize(np.array([2.0, 2.0]), "zscore").tolist() == [0.0, 0.0]
    assert normalize(np.array([2.0, 2.0, 2.0, 2.0]), "sum").tolist() == [0.25] * 4
    assert normalize(np.array([]), "minmax").tolist() == []
    with pytest.raises(ValueError, match="unknown normalisation 'l2'"):
        normalize(np.array([1.0]), "l2")


# --- ties, missing documents and queries, one-query runs ------------------------------------------------------------
def test_tied_input_scores_get_trec_eval_ranks():
    # x and y tie at 5: trec_eval ranks y (higher docid) first, so RRF gives y 1/61 and x 1/62.
    tied = Run([Ranking("q", ["x", "y", "z"], [5.0, 5.0, 1.0])], name="t")
    other = Run([Ranking("q", ["w"], [1.0])], name="o")
    assert fuse_runs([tied, other], "rrf")["q"].to_dict() == pytest.approx(
        {"y": 1 / 61, "x": 1 / 62, "z": 1 / 63, "w": 1 / 61}, abs=1e-15
    )


def test_fused_ties_are_exact_and_independent_of_run_order():
    # Each document holds ranks 1, 2 and 3 in some order: all three must tie exactly, whatever the run order,
    # and the tie is broken by docid descending.
    r1 = Run([Ranking("q", ["x", "y", "z"], [3, 2, 1])], name="r1")
    r2 = Run([Ranking("q", ["y", "z", "x"], [3, 2, 1])], name="r2")
    r3 = Run([Ranking("q", ["z", "x", "y"], [3, 2, 1])], name="r3")
    for order in ([r1, r2, r3], [r3, r1, r2], [r2, r3, r1]):
        ranking = fuse_runs(order, "rrf")["q"]
        assert ranking.docids == ["z", "y", "x"]
        assert len(set(ranking.scores.tolist())) == 1
    weighted = fuse_runs([r1, r2, r3], "rrf", weights=[1, 2, 3])["q"]
    assert weighted == fuse_runs([r3, r1, r2], "rrf", weights=[3, 1, 2])["q"]


def test_a_query_missing_from_one_run_gets_the_others_contribution():
    a = Run([Ranking("q1", ["x", "y"], [2, 1]), Ranking("q2", ["u"], [1])], name="a")
    b = Run([Ranking("q1", ["y"], [7])], name="b")
    out = fuse_runs([a, b], "rrf")
    assert list(out) == ["q1", "q2"]
    assert out["q2"].to_dict() == pytest.approx({"u": 1 / 61}, abs=1e-15)
    assert out["q1"].docids == ["y", "x"]


def test_runs_with_one_query_and_one_document():
    a = Run([Ranking("only", ["x"], [3.0])], name="a")
    b = Run([Ranking("only", ["y"], [-2.0])], name="b")
    # one-document rankings: min-max maps the single score to 1, so x and y tie and y (higher id) comes first
    out = fuse_runs([a, b], "combmnz")
    assert list(out) == ["only"] and out["only"].docids == ["y", "x"] and out["only"].scores.tolist() == [1.0, 1.0]


def test_queries_argument_selects_and_fills_queries():
    out = fuse_runs([A, B], "rrf", queries=["q", "absent"])
    assert list(out) == ["q", "absent"] and len(out["absent"]) == 0


def test_depth_cuts_inputs_and_top_cuts_the_output():
    # depth 1: A holds d1 only, B d3 only -> two documents, each 1/61; tie -> d3 first.
    docids, scores = fused("rrf", depth=1)
    assert docids == ["d3", "d1"] and scores == pytest.approx([1 / 61, 1 / 61], abs=1e-15)
    docids, _ = fused("rrf", top=2)
    assert docids == ["d1", "d3"]


def test_top_keeps_the_trec_eval_order_across_a_tie_at_the_cut():
    a = Run([Ranking("q", ["a", "b", "c", "d"], [4, 3, 3, 3])], name="a")
    full = fuse_runs([a, a], "combsum", norm="none")["q"]
    assert fuse_runs([a, a], "combsum", norm="none", top=2)["q"].docids == full.docids[:2] == ["a", "d"]


def test_zero_weight_leaves_a_run_out():
    docids, scores = fused("rrf", weights=[1, 0])
    assert docids == ["d1", "d2", "d3"] and scores == pytest.approx([1 / 61, 1 / 62, 1 / 63], abs=1e-15)


def test_texts_survive_fusion():
    a = Run([Ranking("q", ["x", "y"], [2, 1], ["text x", "text y"])], name="a")
    b = Run([Ranking("q", ["z"], [1], ["text z"])], name="b")
    assert fuse_runs([a, b], "rrf")["q"].texts == ["text z", "text x", "text y"]
    c = Run([Ranking("q", ["w"], [1])], name="c")  # no texts: the fused ranking cannot carry them all
    assert fuse_runs([a, c], "rrf")["q"].texts is None


def test_plain_dict_runs():
    out = fuse_runs({"a": {"q": {"x": 2.0, "y": 1.0}}, "b": {"q": {"y": 3.0}}}, "rrf")
    assert out["q"].docids == ["y", "x"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(method="bogus"), "unknown fusion method 'bogus'"),
        (dict(method="rrf", norm="minmax"), "rrf fuses ranks"),
        (dict(method="combsum", norm="l1"), "unknown normalisation 'l1'"),
        (dict(method="rrf", weights=[1, -1]), "weights must be finite and >= 0, got -1.0"),
        (dict(method="rrf", weights=[1]), "got 1 weights for 2 runs"),
        (dict(method="rrf", weights=[0, 0]), "at least one weight must be > 0"),
        (dict(method="rrf", rrf_k=-1), "rrf_k must be a finite number >= 0"),
        (dict(method="rrf", depth=0), "depth must be a positive integer"),
    ],
)
def test_bad_options_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fuse_runs([A, B], **kwargs)


def test_weights_naming_an_unknown_run():
    with pytest.raises(ValueError, match="weights name run 'C'"):
        fuse_runs({"A": A, "B": B}, "rrf", weights={"A": 1, "C": 1})


def test_one_run_is_not_a_list_of_runs():
    with pytest.raises(TypeError, match="takes several runs"):
        fuse(A, "rrf")


# --- pipeline stages ------------------------------------------------------------------------------------------------
class Fixed(Retriever):
    def __init__(self, name, scores):
        self.name, self.scores = name, scores

    def search(self, queries, k=1000):
        items = sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]
        return Run(Ranking(q.qid, [d for d, _ in items], [s for _, s in items], [f"text {d}" for d, _ in items])
                   for q in queries)


class CountLetter(Reranker):
    """Scores a candidate by how often a letter occurs in its text."""

    def __init__(self, letter):
        self.letter, self.name = letter, f"count-{letter}"

    def score(self, query, texts):
        return np.array([t.count(self.letter) for t in texts], dtype=float)


def test_fuse_stage_equals_fusing_the_runs():
    x, y = Fixed("x", {"d1": 3, "d2": 2, "d3": 1}), Fixed("y", {"d3": 9, "d4": 1})
    stage = fuse([x, y], "rrf")
    assert isinstance(stage, Fuse)
    queries = [Query("1", "a"), Query("2", "b")]
    expected = fuse_runs([x(queries), y(queries)], "rrf")
    out = stage(queries)
    assert out["1"] == expected["1"] and out["2"] == expected["2"]
    # d3 1/63 + 1/61, d1 1/61, then d2 and d4 tie at 1/62 (d4 first); texts come along, so a reranker can follow
    assert out["1"].texts == ["text d3", "text d1", "text d4", "text d2"]
    assert str(stage) == "fuse([x, y], 'rrf')"


def test_fuse_stage_with_a_precomputed_run_and_a_cutoff():
    external = Run([Ranking("1", ["d9", "d1"], [5, 4])], name="ext")
    stage = fuse([Fixed("x", {"d1": 3, "d2": 2}), external], "rrf") % 2
    out = stage([Query("1", "a"), Query("2", "b")])
    assert out["1"].docids == ["d1", "d9"]  # d1: 1/61 + 1/62
    assert out["2"].docids == ["d1", "d2"]  # the external run has no query 2: x alone
    assert Precomputed(external)([Query("7", "c")])["7"].docids == []


def test_ensemble_of_rerankers_reranks_the_same_candidates():
    retriever = Fixed("x", {"aa": 3, "ab": 2, "bb": 1})  # texts "text aa", "text ab", "text bb"
    a, b = CountLetter("a"), CountLetter("b")
    pipeline = retriever >> ensemble([a, b], "combsum", norm="none", weights=[2, 1])
    out = pipeline([Query("1", "q")])["1"]
    # count of "a" / "b" in "text aa" 2/0, "text ab" 1/1, "text bb" 0/2 -> 2*a + b = 4, 3, 2
    assert out.docids == ["aa", "ab", "bb"] and out.scores.tolist() == [4.0, 3.0, 2.0]
    assert out.texts == ["text aa", "text ab", "text bb"]


def test_ensemble_rejects_non_rerankers_and_fuse_rejects_mapping_weights():
    with pytest.raises(TypeError, match="ensemble\\(\\) takes rerankers"):
        ensemble([CountLetter("a"), Fixed("x", {})])
    with pytest.raises(ValueError, match="at least two rerankers"):
        ensemble([CountLetter("a")])
    with pytest.raises(TypeError, match="weights as a list"):
        Fuse([Fixed("x", {}), Fixed("y", {})], weights={"x": 1, "y": 1})


def test_fuse_stage_checks_options_before_running():
    with pytest.raises(ValueError, match="got 3 weights for 2 runs"):
        fuse([Fixed("x", {}), Fixed("y", {})], "rrf", weights=[1, 1, 1])


# --- learning weights and RRF's k -----------------------------------------------------------------------------------
# Runs X and Y over train queries t1, t2 and a test query s. With k = 60, P@1 = 1 on both train queries needs
#   t1: a above b  <=>  wx/61 + wy/62 > wx/62 + wy/61  <=>  wx > wy
#   t2: b above c  <=>  wx/62 + wy/61 > wx/61 + wy/63  <=>  wy/wx > 63/124
# On the 0.1 grid only (0.6, 0.4) satisfies both.
X = Run([Ranking("t1", ["a", "b", "c"], [3, 2, 1]), Ranking("t2", ["c", "b", "a"], [3, 2, 1]),
         Ranking("s", ["a", "b"], [2, 1])], name="X")
Y = Run([Ranking("t1", ["b", "a", "c"], [3, 2, 1]), Ranking("t2", ["b", "a", "c"], [3, 2, 1]),
         Ranking("s", ["b", "a"], [2, 1])], name="Y")
TRAIN = Qrels({"t1": {"a": 1}, "t2": {"b": 1}})


def test_learned_weights_by_hand():
    setting = learn_fusion([X, Y], TRAIN, "rrf", metric="P_1", rrf_k_grid=None)
    assert setting.weights == [0.6, 0.4] and setting.rrf_k == 60
    assert setting.learned["value"] == 1.0 and setting.learned["train_queries"] == 2
    assert setting.learned["train_query_ids"] == ["t1", "t2"]
    assert setting.learned["grid_points"] == 11
    fused_run = setting.apply([X, Y])
    assert fused_run["t1"].docids[0] == "a" and fused_run["t2"].docids[0] == "b"


def test_learning_never_sees_test_queries(monkeypatch):
    import rankwise.evaluate

    seen = set()
    real = rankwise.evaluate.evaluate

    def spy(run, qrels, *args, **kwargs):
        seen.update(run)
        seen.update(qrels)
        return real(run, qrels, *args, **kwargs)

    monkeypatch.setattr(rankwise.evaluate, "evaluate", spy)
    learned = learn_fusion([X, Y], TRAIN, "rrf", metric="P_1")
    assert seen == {"t1", "t2"}
    # Whatever the test query's rankings say, the setting is the same.
    garbage = {"X": Run(list(X.values())[:2] + [Ranking("s", ["zz"], [1])]), "Y": Y}
    again = learn_fusion(garbage, TRAIN, "rrf", metric="P_1")
    assert (again.weights, again.rrf_k, again.learned["value"]) == (learned.weights, learned.rrf_k,
                                                                   learned.learned["value"])


def test_ties_between_settings_prefer_equal_weights_and_k_60():
    setting = learn_fusion([X, X], TRAIN, "rrf", metric="P_1")  # identical runs: every setting scores the same
    assert setting.weights == [0.5, 0.5] and setting.rrf_k == 60


def test_learning_needs_judged_queries():
    with pytest.raises(ValueError, match="none of the runs' queries is judged"):
        learn_fusion([X, Y], Qrels({"other": {"a": 1}}), "rrf")


def test_weight_grid():
    assert weight_grid(2, 0.5) == [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]
    assert len(weight_grid(3, 0.1)) == 66 and all(math.isclose(sum(w), 1) for w in weight_grid(3, 0.1))
    with pytest.raises(ValueError, match="must divide 1"):
        weight_grid(2, 0.3)


def test_setting_round_trip(tmp_path):
    setting = learn_fusion([X, Y], TRAIN, "combsum", metric="P_1", norm="rank")
    path = setting.save(tmp_path / "s.json")
    loaded = FusionSetting.load(path)
    assert loaded == setting
    assert loaded.apply([X, Y])["s"] == setting.apply([X, Y])["s"]
    (tmp_path / "bad.json").write_text(json.dumps({"method": "rrf"}))
    with pytest.raises(ValueError, match="not a rankwise fusion setting"):
        FusionSetting.load(tmp_path / "bad.json")


# --- files: what `rankwise fuse` runs --------------------------------------------------------------------------------
def test_fuse_files_with_given_weights(tmp_path):
    write_run(A, tmp_path / "a.run")
    write_run(B, tmp_path / "b.run")
    run, setting = fuse_files([tmp_path / "a.run", tmp_path / "b.run"], tmp_path / "out.run", "rrf",
                              weights=[1, 3], log=lambda s: None)
    assert read_run(tmp_path / "out.run")["q"].docids == ["d3", "d1", "d4", "d2"]
    assert setting.weights == [1.0, 3.0]


def test_fuse_files_learns_on_train_queries_and_leaves_them_out(tmp_path):
    write_run(X, tmp_path / "x.run")
    write_run(Y, tmp_path / "y.run")
    write_qrels(TRAIN, tmp_path / "train.qrels")
    messages = []
    out = tmp_path / "fused.run"
    run, setting = fuse_files([tmp_path / "x.run", tmp_path / "y.run"], out, "rrf",
                              train_qrels=tmp_path / "train.qrels", metric="P_1", rrf_k_grid=None, log=messages.append)
    assert list(read_run(out)) == ["s"]  # training queries left out
    assert setting.weights == [0.6, 0.4]
    saved = tmp_path / "fused.run.fusion.json"
    assert FusionSetting.load(saved) == setting
    assert any("weights: " in m and "=0.6" in m for m in messages)  # the learned setting is printed
    assert any("2 training queries left out" in m for m in messages)
    # Re-applying the saved setting reproduces the run.
    again, _ = fuse_files([tmp_path / "x.run", tmp_path / "y.run"], tmp_path / "again.run", setting=saved,
                          log=lambda s: None)
    assert list(read_run(tmp_path / "again.run")) == ["s"]  # the saved setting knows its training queries
    assert read_run(tmp_path / "again.run")["s"] == read_run(out)["s"]


def test_fuse_files_train_queries_restrict_the_training_set(tmp_path):
    write_run(X, tmp_path / "x.run")
    write_run(Y, tmp_path / "y.run")
    write_qrels(TRAIN, tmp_path / "train.qrels")
    (tmp_path / "ids.txt").write_text("t1\n")
    _, setting = fuse_files([tmp_path / "x.run", tmp_path / "y.run"], tmp_path / "o.run", "rrf",
                            train_qrels=tmp_path / "train.qrels", train_queries=tmp_path / "ids.txt",
                            metric="P_1", log=lambda s: None)
    assert setting.learned["train_queries"] == 1
    assert set(read_run(tmp_path / "o.run")) == {"t2", "s"}
    assert read_query_ids(tmp_path / "ids.txt") == ["t1"]


def test_fuse_files_errors(tmp_path):
    write_run(A, tmp_path / "a.run")
    with pytest.raises(ValueError, match="at least two runs"):
        fuse_files([tmp_path / "a.run"], tmp_path / "o.run", log=lambda s: None)
    with pytest.raises(ValueError, match="given twice"):
        fuse_files([tmp_path / "a.run", tmp_path / "a.run"], tmp_path / "o.run", log=lambda s: None)


# --- against an independent implementation on real runs ------------------------------------------------------------
@pytest.mark.parametrize("method, norm, ranx_method, ranx_norm", [
    ("rrf", None, "rrf", None),
    ("combmnz", "minmax", "mnz", "min-max"),
    ("combsum", "zscore", "sum", "zmuv"),
])
def test_matches_ranx_on_dl19_runs(method, norm, ranx_method, ranx_norm):
    ranx = pytest.importorskip("ranx", reason="ranx is the independent reference for these fusion numbers")
    folder = shared_path("dl19")
    runs = [read_run(folder / "bm25_top100.trec"),
            read_run(folder / "reference_runs" / "rankgpt-gpt35.bm25top100.trec")]
    theirs = ranx.fuse([ranx.Run(r.to_dict(), name=str(i)) for i, r in enumerate(runs)], method=ranx_method,
                       norm=ranx_norm).to_dict()
    ours = fuse_runs(runs, method, norm=norm).to_dict()
    assert set(ours) == set(theirs) and len(ours) == 43
    for qid in ours:
        assert ours[qid] == pytest.approx(dict(theirs[qid]), abs=1e-12)
