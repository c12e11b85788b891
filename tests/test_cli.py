"""The CLI contract, run in-process: published numbers through `evaluate`, files through retrieve/rerank, errors."""
from __future__ import annotations

import json

import pytest
from conftest import shared_path

from rankwise.cli import main
from rankwise.datasets import DEMO_PATH
from rankwise.io import read_run


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_json_gives_the_published_dl19_numbers(capsys):
    dl19 = shared_path("dl19")
    code, out, _ = run_cli(capsys, "evaluate", dl19 / "bm25_top100.trec", dl19 / "qrels.txt",
                           "-m", "ndcg_cut_10", "map_cut_100", "recall_100", "-l", "2", "--json")
    values = json.loads(out)
    assert code == 0 and list(values) == ["ndcg_cut_10", "map_cut_100", "recall_100"]
    assert f"{values['ndcg_cut_10']:.4f}" == "0.5058"  # DATA.md: BM25 nDCG@10 on these candidates
    assert f"{values['map_cut_100']:.4f}" == "0.2476"  # MAP@100 with -l 2
    assert f"{values['recall_100']:.4f}" == "0.4910"   # R@100 with -l 2


def test_evaluate_prints_trec_eval_layout_like_trec_eval(capsys):
    folder = shared_path("trec_eval")
    code, out, _ = run_cli(capsys, "evaluate", folder / "results.test", folder / "qrels.test",
                           "-m", "num_rel_ret", "map", "P_5", "ndcg")
    expected = {line.split()[0]: line.split()[2] for line in (folder / "out.test.a").read_text().splitlines()}
    got = {line.split()[0]: line.split()[2] for line in out.splitlines()}
    assert code == 0
    for metric in ("num_rel_ret", "map", "P_5", "ndcg"):
        assert got[metric] == expected[metric]


def test_readable_metric_names_and_per_query_json(capsys):
    dl19 = shared_path("dl19")
    code, out, _ = run_cli(capsys, "evaluate", dl19 / "reference_runs" / "rankgpt-gpt35.bm25top100.trec",
                           dl19 / "qrels.txt",
                           "-m", "nDCG@10", "--per-query", "--json")
    payload = json.loads(out)
    assert f"{payload['aggregate']['ndcg_cut_10']:.4f}" == "0.6938"  # DATA.md: the gpt-3.5 run
    assert len(payload["per_query"]["ndcg_cut_10"]) == 43


def test_retrieve_then_evaluate_reaches_the_scifact_target(tmp_path, capsys):
    scifact = shared_path("scifact")
    run_path = tmp_path / "bm25.run.gz"
    index = tmp_path / "index"
    code, _, err = run_cli(capsys, "retrieve", scifact, "--top-k", "100", "--index", index, "-o", run_path)
    assert code == 0 and "saved to" in err
    code, out, _ = run_cli(capsys, "evaluate", run_path, scifact / "qrels" / "test.tsv", "-m", "nDCG@10", "--json")
    first = json.loads(out)["ndcg_cut_10"]
    assert first >= 0.670  # Pyserini flat: 0.6789
    # A second retrieve loads the saved index and writes the same run.
    again = tmp_path / "again.run"
    code, _, err = run_cli(capsys, "retrieve", scifact, "--top-k", "100", "--index", index, "-o", again)
    assert "loaded index" in err
    assert read_run(again) == read_run(run_path)


def test_rerank_json_candidates_and_trec_run_with_dataset(tmp_path, capsys):
    dl19 = shared_path("dl19")
    out_json = tmp_path / "from_json.run"
    code, _, _ = run_cli(capsys, "rerank", dl19 / "bm25_top100.json", "--reranker", "bm25", "--top-k", "20",
                         "-o", out_json)
    run = read_run(out_json)
    assert code == 0 and len(run) == 43 and {len(r) for r in run.values()} == {20}
    # The reranked top-20 holds exactly BM25's top-20 documents, reordered.
    bm25 = read_run(dl19 / "bm25_top100.trec")
    assert all(set(run[q].docids) == set(bm25[q].docids[:20]) for q in run)

    first = tmp_path / "demo.run"
    assert run_cli(capsys, "retrieve", DEMO_PATH, "-o", first)[0] == 0
    code, _, err = run_cli(capsys, "rerank", first, "-o", tmp_path / "x.run")
    assert code == 2 and "pass --dataset DATASET_DIR" in err
    code, _, _ = run_cli(capsys, "rerank", first, "--dataset", DEMO_PATH, "-o", tmp_path / "y.run")
    assert code == 0 and read_run(tmp_path / "y.run").keys() == read_run(first).keys()


def test_compare_marks_the_llm_run_significantly_better(capsys):
    dl19 = shared_path("dl19")
    code, out, _ = run_cli(capsys, "compare", dl19 / "bm25_top100.trec",
                           dl19 / "reference_runs" / "rankgpt-gpt35.bm25top100.trec",
                           "--qrels", dl19 / "qrels.txt", "-m", "nDCG@10", "--test", "permutation", "--json")
    table = json.loads(out)
    cell = table["runs"]["rankgpt-gpt35.bm25top100.trec"]["ndcg_cut_10"]
    assert code == 0 and table["baseline"] == "bm25_top100.trec"
    assert cell["significant"] and cell["mark"] == "▲" and cell["mean_difference"] > 0.18


def test_compare_keeps_runs_of_the_same_file_name_apart(tmp_path, capsys):
    qrels = tmp_path / "qrels"
    qrels.write_text("q1 0 d1 1\nq2 0 d1 1\n")
    for folder, order in (("a", "d1 d2"), ("b", "d2 d1")):
        (tmp_path / folder).mkdir(parents=True)
        lines = [f"{q} Q0 {d} {r} {3 - r} x" for q in ("q1", "q2") for r, d in enumerate(order.split(), 1)]
        (tmp_path / folder / "run.trec").write_text("\n".join(lines) + "\n")
    code, out, _ = run_cli(capsys, "compare", tmp_path / "a" / "run.trec", tmp_path / "b" / "run.trec",
                           "--qrels", qrels, "-m", "P@1", "--json")
    table = json.loads(out)
    assert code == 0 and table["baseline"] == "a/run.trec"  # neither run dropped nor overwritten
    assert table["runs"]["b/run.trec"]["P_1"]["value"] == 0.0 and table["runs"]["a/run.trec"]["P_1"]["value"] == 1.0
    from rankwise.report.inputs import run_labels

    assert run_labels(["x/a/run.trec", "y/a/run.trec", "b/run.trec", "z/run.trec"]) == [
        "x/a/run.trec", "y/a/run.trec", "b/run.trec", "z/run.trec"]
    assert run_labels(["one.run", "two.run"]) == ["one.run", "two.run"]
    # one file under two spellings is one run: the baseline, not a clash of names
    a, b = tmp_path / "a" / "run.trec", tmp_path / "b" / "run.trec"
    code, out, _ = run_cli(capsys, "compare", "--baseline", a, tmp_path / "a" / ".." / "a" / "run.trec", b,
                           "--qrels", qrels, "-m", "P@1", "--json")
    assert code == 0 and sorted(json.loads(out)["runs"]) == ["a/run.trec", "b/run.trec"]
    code, _, err = run_cli(capsys, "compare", a, tmp_path / "a" / "." / "run.trec", "--qrels", qrels)
    assert code == 2 and "are the same file" in err


def test_errors_are_one_line_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1 1.0 x\nq1 Q0 d2 2 oops x\n")
    qrels = tmp_path / "qrels"
    qrels.write_text("q1 0 d1 1\n")
    code, _, err = run_cli(capsys, "evaluate", bad, qrels)
    assert code == 2
    assert err.strip() == f"rankwise: error: {bad}:2: score 'oops' (column 5) is not a number"
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "missing.run", qrels)
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(capsys, "evaluate", qrels, qrels, "-m", "nDCG@ten")
    assert code == 2 and "nDCG@ten" in err  # the metric is checked before the files
    code, _, err = run_cli(capsys, "evaluate", qrels, qrels)
    assert code == 2 and "expected 6 columns" in err  # qrels given where the run belongs
    code, _, err = run_cli(capsys, "rerank", bad, "--dataset", DEMO_PATH, "-o", tmp_path / "o")
    assert code == 2 and f"{bad}:2: score 'oops'" in err


def test_unknown_reranker_lists_known_ones(tmp_path, capsys):
    dl19 = shared_path("dl19")
    code, _, err = run_cli(capsys, "rerank", dl19 / "bm25_top100.json", "--reranker", "nope", "-o", tmp_path / "o")
    assert code == 2 and "unknown reranker 'nope'; known: cross-encoder, bm25" in err and "or a model name" in err


def test_demo_prints_a_table_per_stage(capsys):
    code, out, _ = run_cli(capsys, "demo", "--reranker", "bm25")
    assert code == 0
    assert "collection: demo — 228 documents, 30 judged queries" in out
    rows = [line for line in out.splitlines() if line.startswith(("BM25 top-100", "bm25-rerank"))]
    assert len(rows) == 2 and "time: BM25 index + search" in out


def test_fuse_rrf_of_two_small_runs(tmp_path, capsys):
    a, b = tmp_path / "a.run", tmp_path / "b.run"
    a.write_text("q Q0 d1 1 9.0 a\nq Q0 d2 2 8.0 a\n")
    b.write_text("q Q0 d2 1 0.5 b\nq Q0 d3 2 0.4 b\n")
    code, _, _ = run_cli(capsys, "fuse", a, b, "--method", "rrf", "-o", tmp_path / "f.run")
    fused = read_run(tmp_path / "f.run")["q"]
    assert code == 0 and fused.docids == ["d2", "d1", "d3"]
    assert fused.scores.tolist() == pytest.approx([1 / 62 + 1 / 61, 1 / 61, 1 / 62], abs=1e-12)
    from rankwise.io.runinfo import read_run_info  # the settings sidecar, as every written run has
    info = read_run_info(tmp_path / "f.run")
    assert info["command"][:2] == ["rankwise", "fuse"] and info["setting"]["method"] == "rrf"


def test_rm3_needs_bm25(tmp_path, capsys):
    code, _, err = run_cli(capsys, "retrieve", DEMO_PATH, "--retriever", "splade", "--rm3", "-o", tmp_path / "x")
    assert code == 2 and "use it with --retriever bm25" in err
