"""rankwise.report: the numbers in the page are evaluate's, parsed back; RBO against an independent oracle;
drill-down, highlighting, costs, run settings, CLI. The page in a real browser: tests/test_report_browser.py."""
from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pytest
from conftest import shared_path

from rankwise.cli import main
from rankwise.evaluate import compare_runs, evaluate, format_value
from rankwise.io import (
    read_qrels,
    read_run,
    read_run_info,
    run_info_path,
    write_candidates,
    write_qrels,
    write_run,
)
from rankwise.report import build_report, rank_biased_overlap, read_cost_log
from rankwise.report.costs import summarize_costs
from rankwise.report.text import query_terms, snippet_html
from rankwise.rerank.llm.backends import Usage
from rankwise.rerank.llm.records import CostLog
from rankwise.testing.synthetic import synthetic_collection
from rankwise.types import Document, Query

METRICS = ["ndcg_cut_10", "map", "P_5", "recall_20"]


# --- reading the page back ------------------------------------------------------------------------------------------
class Page(HTMLParser):
    """Every element's tag, attributes and text, in document order, plus the comparison table's cells."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.cells: dict[tuple[str, str], dict] = {}  # (run, metric) -> attrs + {"text": …}
        self.wtl: dict[tuple[str, str], dict] = {}
        self._table = None
        self._run = None
        self._cell = None
        self._text_stack: list[list[str]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("class", "")
        elif tag == "tr":
            self._run = attrs.get("data-run")
        elif tag == "td" and self._run is not None and "data-metric" in attrs:
            self._cell = dict(attrs, text="")
            target = self.cells if "rw-comparison" in self._table else self.wtl if "rw-wtl" in self._table else None
            if target is not None:
                target[self._run, attrs["data-metric"]] = self._cell

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def value_text(cell: dict) -> str:
    """The value and mark as compare prints them (the p-value line under it left out)."""
    return re.sub(r"p (=|<) [0-9.]+$", "", cell["text"]).strip()


@pytest.fixture(scope="module")
def collection():
    return synthetic_collection(num_queries=60, num_runs=3, depth=20, seed=7)


@pytest.fixture(scope="module")
def report(collection):
    runs, qrels, queries, documents = collection
    return build_report(runs, qrels, METRICS, queries=queries, documents=documents, drilldown_queries=12,
                        relevance_level=2)


# --- numbers ----------------------------------------------------------------------------------------------------------
def test_table_in_the_page_is_compares_table_exactly(report, collection):
    runs, qrels, _, _ = collection
    table = compare_runs(runs, qrels, METRICS, relevance_level=2)
    assert report.comparison.values == table.values
    assert report.comparison.pvalues == table.pvalues
    assert report.comparison.adjusted_pvalues == table.adjusted_pvalues
    page = Page(report.to_html())
    assert len(page.cells) == len(runs) * len(METRICS)
    for run in runs:
        for m in METRICS:
            cell = page.cells[run, m]
            assert float(cell["data-value"]) == evaluate(runs[run], qrels, METRICS, relevance_level=2).aggregate[m]
            assert value_text(cell) == format_value(m, table.values[run][m]) + table.mark(run, m)
            if run != table.baseline:
                assert float(cell["data-p"]) == table.pvalues[run][m]
                assert float(cell["data-p-adj"]) == table.adjusted_pvalues[run][m]
                assert cell["data-mark"] == table.mark(run, m)
    assert "▲" in "".join(c["text"] for c in page.cells.values())  # run-2 is far better than run-0 here
    assert table.legend() in unescape(report.to_html())


def test_wins_ties_losses_and_deltas_count_queries(report, collection):
    runs, qrels, _, _ = collection
    per_query = {name: evaluate(run, qrels, METRICS, relevance_level=2).per_query for name, run in runs.items()}
    page = Page(report.to_html())
    for name in ("run-1", "run-2"):
        for m in METRICS:
            diffs = np.array([per_query[name][m][q] - per_query["run-0"][m][q] for q in per_query["run-0"][m]])
            expected = (int((diffs > 0).sum()), int((diffs == 0).sum()), int((diffs < 0).sum()))
            assert report.win_tie_loss[name][m] == expected
            cell = page.wtl[name, m]
            assert (int(cell["data-wins"]), int(cell["data-ties"]), int(cell["data-losses"])) == expected
        deltas = report.deltas[name]
        assert [d for _, d in deltas] == sorted(d for _, d in deltas)[::-1]
        assert dict(deltas) == {q: per_query[name]["ndcg_cut_10"][q] - per_query["run-0"]["ndcg_cut_10"][q]
                                for q in per_query["run-0"]["ndcg_cut_10"]}


def test_recall_precision_curve_is_trec_evals_iprec(report, collection):
    runs, qrels, _, _ = collection
    for name, run in runs.items():
        iprec = evaluate(run, qrels, "iprec_at_recall", relevance_level=2).aggregate
        assert report.curves[name] == list(iprec.values())
        assert len(report.curves[name]) == 11


# --- rank-biased overlap --------------------------------------------------------------------------------------------
def rbo_ext_by_definition(a, b, p):
    """Webber et al. 2010, eq. 32, term by term with sets (no shortcuts)."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    s, l = len(short), len(long)
    x = {d: len(set(short[:d]) & set(long[:d])) for d in range(1, l + 1)}
    first = sum(x[d] / d * p**d for d in range(1, l + 1))
    second = sum(x[s] * (d - s) / (s * d) * p**d for d in range(s + 1, l + 1))
    return (1 - p) / p * (first + second) + ((x[l] - x[s]) / l + x[s] / s) * p**l


def test_rbo_identical_disjoint_and_the_papers_formula():
    a = [f"d{i}" for i in range(30)]
    assert rank_biased_overlap(a, a, 0.9) == pytest.approx(1.0, abs=1e-12)
    assert rank_biased_overlap(a, [f"x{i}" for i in range(30)], 0.9) == 0.0
    assert rank_biased_overlap([], [], 0.9) == 1.0 and rank_biased_overlap([], a, 0.9) == 0.0
    rng = np.random.default_rng(3)
    for _ in range(200):
        pool = [f"d{i}" for i in range(40)]
        x = list(rng.permutation(pool)[: rng.integers(1, 30)])
        y = list(rng.permutation(pool)[: rng.integers(1, 30)])
        p = float(rng.choice([0.5, 0.8, 0.9, 0.98]))
        assert rank_biased_overlap(x, y, p) == pytest.approx(rbo_ext_by_definition(x, y, p), abs=1e-12)
        assert rank_biased_overlap(x, y, p) == pytest.approx(rank_biased_overlap(y, x, p), abs=1e-12)
    # a swap at the top costs more than the same swap further down
    swapped_top = a[:]
    swapped_top[0], swapped_top[1] = a[1], a[0]
    swapped_low = a[:]
    swapped_low[20], swapped_low[21] = a[21], a[20]
    assert rank_biased_overlap(a, swapped_top) < rank_biased_overlap(a, swapped_low) < 1.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        rank_biased_overlap(a, a, 1.0)


def test_rbo_agrees_with_the_rbo_package():
    rbo = pytest.importorskip("rbo", reason="the rbo package, an independent oracle, is not installed (it pins numpy<2, so it is not in the test extra)")
    rng = np.random.default_rng(5)
    for _ in range(50):
        pool = [f"d{i}" for i in range(50)]
        x = list(rng.permutation(pool)[:20])
        y = list(rng.permutation(pool)[: rng.integers(5, 20)])
        expected = rbo.RankingSimilarity(x, y).rbo_ext(p=0.9)
        assert rank_biased_overlap(x, y, 0.9) == pytest.approx(expected, abs=1e-9)


# --- drill-down and texts -------------------------------------------------------------------------------------------
def test_drilldown_is_limited_and_says_so(report, collection):
    runs, qrels, queries, _ = collection
    d = report.drilldown
    assert d.limited and len(d.queries) == 12 and d.total == 60
    html = report.to_html()
    assert "Showing 12 of 60 queries" in html
    ids = [q.qid for q in d.queries]
    assert len(set(ids)) == 12
    # the query with the biggest change and the one with the least overlap are both in
    per_query = {n: evaluate(r, qrels, "ndcg_cut_10", relevance_level=2).per_query["ndcg_cut_10"] for n, r in runs.items()}
    change = {q: max(abs(per_query[n][q] - per_query["run-0"][q]) for n in ("run-1", "run-2")) for q in per_query["run-0"]}
    overlap = {q: min(rank_biased_overlap(runs["run-0"][q].docids, runs[n][q].docids) for n in ("run-1", "run-2"))
               for q in per_query["run-0"]}
    assert max(change, key=change.get) == ids[0]
    assert min(overlap, key=overlap.get) in ids
    # rows: grades from the qrels, "?" for unjudged documents, the query's text
    view = d.queries[0]
    for name, rows in view.rows.items():
        assert [r.docid for r in rows] == runs[name][view.qid].docids[:10]
        assert [r.grade for r in rows] == [qrels[view.qid].get(r.docid) for r in rows]
    assert view.text == queries[view.qid]
    assert view.relevant == sum(g >= 2 for g in qrels[view.qid].values())
    assert 'title="not judged">?</span>' in html


def test_every_query_is_shown_when_few():
    runs, qrels, queries, documents = synthetic_collection(num_queries=8, num_runs=2, depth=10, seed=1)
    report = build_report(runs, qrels, ["ndcg_cut_10"], queries=queries, documents=documents)
    assert not report.drilldown.limited and len(report.drilldown.queries) == 8
    assert "All 8 queries" in report.to_html()


def test_query_terms_are_highlighted_and_text_escaped():
    terms = query_terms("running shoes for the marathon")
    assert terms == frozenset({"run", "shoe", "marathon"})
    html = snippet_html("The runner's RUNNING shoes <script>alert(1)</script> ran.", terms)
    assert "<mark>RUNNING</mark>" in html and "<mark>shoes</mark>" in html
    assert "<mark>The</mark>" not in html and "<mark>ran</mark>" not in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    long = " ".join(["filler"] * 100 + ["marathon", "shoes"] + ["filler"] * 100)
    cut = snippet_html(long, terms, max_words=20)
    assert cut.startswith("… ") and cut.endswith(" …") and "<mark>marathon</mark>" in cut
    assert len(re.findall(r"\w+", re.sub("<[^>]+>", "", cut))) == 20


# --- LLM costs ------------------------------------------------------------------------------------------------------
def cost_log(qids, tokens=100) -> CostLog:
    log = CostLog("llm:listwise")
    for i, qid in enumerate(qids):
        log.add(qid, "window", Usage(prompt_tokens=tokens + i, completion_tokens=10, forward_passes=10,
                                     latency_s=0.5), repaired=i % 2 == 0)
        log.add(qid, "window", Usage(prompt_tokens=tokens, completion_tokens=12, forward_passes=12, latency_s=0.25))
    return log


def test_cost_log_read_back_and_summarised(tmp_path, collection):
    runs, qrels, _, _ = collection
    qids = list(runs["run-2"])
    log = cost_log(qids[:40])
    log.write_jsonl(tmp_path / "costs.jsonl")
    read = read_cost_log(tmp_path / "costs.jsonl")
    assert read.totals() == log.totals() | {"seconds": 0.0}  # a cost log holds no wall time, only latencies
    summary = summarize_costs(read, qids, "run-2")
    assert summary.totals["calls"] == 80 and summary.totals["repaired"] == 20
    assert summary.totals["prompt_tokens"] == sum(100 + i for i in range(40)) + 100 * 40
    assert summary.totals["seconds"] == pytest.approx(40 * 0.75)
    assert summary.means["calls"] == pytest.approx(80 / 60)  # over the run's 60 queries, 20 without calls
    report = build_report(runs, qrels, METRICS, costs={"run-2": tmp_path / "costs.jsonl"})
    page = Page(report.to_html())
    cells = {a["data-key"]: a for tag, a in page.elements if tag == "td" and "data-key" in a}
    assert float(cells["prompt_tokens"]["data-total"]) == summary.totals["prompt_tokens"]
    assert float(cells["calls"]["data-mean"]) == summary.means["calls"]
    assert any(a.get("data-figure") == "scatter" for tag, a in page.elements)
    with pytest.raises(ValueError, match="names 1 queries that run 'run-1' does not have"):
        summarize_costs(cost_log(["nope"]), qids, "run-1")


def test_bad_cost_log_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"strategy": "x", "qid": "1", "step": "w", "prompt_tokens": 1, "completion_tokens": 1, '
                    '"forward_passes": 1, "latency_s": 0.1}\n{"qid": "2"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not an LLM call record: missing strategy"):
        read_cost_log(path)
    path.write_text('{"strategy": "x", "qid": "1", "step": "w", "prompt_tokens": "many", "completion_tokens": 1, '
                    '"forward_passes": 1, "latency_s": 0.1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: prompt_tokens is 'many', not a number"):
        read_cost_log(path)


# --- run settings ---------------------------------------------------------------------------------------------------
def test_run_settings_sidecar_leaves_the_run_plain_trec(tmp_path, collection):
    runs, _, _, _ = collection
    path = tmp_path / "a.run"
    write_run(runs["run-1"], path, tag="mine", info={"stage": "Thing(k=3)", "parameters": {"k": 3},
                                                      "costs": str(tmp_path / "c.jsonl")})
    lines = path.read_text().splitlines()
    assert all(len(line.split()) == 6 and not line.startswith("#") for line in lines)
    assert read_run(path) == runs["run-1"]
    info = read_run_info(path)
    assert info["stage"] == "Thing(k=3)" and info["parameters"] == {"k": 3} and info["tag"] == "mine"
    assert info["queries"] == 60 and info["candidates"] == 1200 and not info["stale"]
    assert info["costs"] == str(tmp_path / "c.jsonl")
    assert json.loads(run_info_path(path).read_text())["costs"] == "c.jsonl"  # relative: moves with the folder
    path.write_text("\n".join(lines[:-1]) + "\n")
    assert read_run_info(path)["stale"]
    assert read_run_info(tmp_path / "other.run") is None


# --- the page as a whole ---------------------------------------------------------------------------------------------
def test_page_is_self_contained(report):
    html = report.to_html()
    page = Page(html)
    tags = {tag for tag, _ in page.elements}
    assert "link" not in tags and "img" not in tags and "iframe" not in tags
    for tag, attrs in page.elements:
        for key in ("src", "href"):
            assert key not in attrs or attrs[key].startswith("#"), (tag, attrs)
    assert "@import" not in html and "url(" not in html
    figures = [a["data-figure"] for tag, a in page.elements if tag == "svg"]
    assert figures.count("delta") == 2 and figures.count("distribution") == len(METRICS) and "curve" in figures


def test_jupyter_reprs(report):
    table = report.comparison._repr_html_()
    assert 'class="rw-table rw-comparison"' in table and "<svg" not in table
    fragment = report._repr_html_()
    assert "<svg" in fragment and "<details" not in fragment and "<!DOCTYPE" not in fragment


def test_matplotlib_figures_draw_the_reports_numbers(report):
    pytest.importorskip("matplotlib", reason="figures need the report extra (matplotlib)")
    from rankwise.report import figures

    fig = figures.delta_figure(report)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [d for _, d in report.deltas["run-1"]]
    fig = figures.recall_precision_figure(report)
    assert [list(line.get_ydata()) for line in fig.axes[0].lines] == list(report.curves.values())
    assert len(figures.distribution_figure(report).axes) == len(METRICS)
    with pytest.raises(ValueError, match="no LLM costs"):
        figures.cost_quality_figure(report)


def test_large_input_keeps_the_page_small():
    runs, qrels, _, _ = synthetic_collection(num_queries=5000, num_runs=5, depth=20, seed=2, texts=False)
    report = build_report(runs, qrels, ["ndcg_cut_10", "map"])
    html = report.to_html()
    assert len(report.drilldown.queries) == 50 and "Showing 50 of 5,000 queries" in html
    page = Page(html)
    assert sum(1 for tag, a in page.elements if tag == "rect" and a.get("class") == "rw-bar") == 0
    assert sum(1 for tag, a in page.elements if tag == "polygon") == 8  # gains and losses of 4 runs
    assert len(html.encode()) < 1_500_000


# --- CLI ------------------------------------------------------------------------------------------------------------
def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path, collection):
    runs, qrels, queries, documents = collection
    for name, run in runs.items():
        write_run(run, tmp_path / f"{name}.run")
    write_qrels(qrels, tmp_path / "qrels.txt")
    candidates = runs["run-1"].with_texts({d: _doc(d, t) for d, t in documents.items()})
    write_candidates([Query(q, t) for q, t in queries.items()], candidates, tmp_path / "cands.json")
    return tmp_path


def _doc(docid, text):
    return Document(docid, text)


def test_cli_report_numbers_settings_and_texts(files, capsys):
    code, _, err = run_cli(capsys, "rerank", files / "cands.json", "--reranker", "bm25", "--top-k", "20",
                           "-o", files / "bm25.run")
    assert code == 0, err
    info = read_run_info(files / "bm25.run")
    assert info["stage"].startswith("BM25Reranker(") and info["command"][:2] == ["rankwise", "rerank"]
    assert info["parameters"]["top_k"] == 20
    code, out, _ = run_cli(capsys, "compare", files / "run-1.run", files / "bm25.run", files / "run-2.run",
                           "--qrels", files / "qrels.txt", "-m", "nDCG@10", "AP", "-l", "2", "--json")
    expected = json.loads(out)
    code, _, err = run_cli(capsys, "report", files / "run-1.run", files / "bm25.run", files / "run-2.run",
                           "--qrels", files / "qrels.txt", "-m", "nDCG@10", "AP", "-l", "2",
                           "--candidates", files / "cands.json", "--drill-down", "5", "-o", files / "r.html")
    assert code == 0, err
    assert "5 in the drill-down" in err
    html = (files / "r.html").read_text()
    page = Page(html)
    for run, by_metric in expected["runs"].items():
        for metric, entry in by_metric.items():
            cell = page.cells[run, metric]
            assert float(cell["data-value"]) == entry["value"]
            assert value_text(cell) == format_value(metric, entry["value"]) + entry.get("mark", "")
            if "pvalue" in entry:
                assert float(cell["data-p-adj"]) == entry["adjusted_pvalue"]
    assert "BM25Reranker(" in html and "No settings recorded" in html  # run-1/run-2 were written without settings
    assert "<mark>" in html  # passages with query terms


def test_llm_costs_reach_the_report_through_the_run_settings(tmp_path, capsys, smol):
    """A real (tiny) LLM reranks; its cost log, named in the run's settings as `rankwise rerank --costs` names it,
    is found by `rankwise report` without --costs."""
    from rankwise.rerank.llm import make_reranker

    runs, qrels, queries, documents = synthetic_collection(num_queries=3, num_runs=1, depth=4, seed=4)
    reranker = make_reranker("llm:pointwise", smol, method="likelihood")
    texts = {d: _doc(d, t) for d, t in documents.items()}
    reranked = reranker([Query(q, t) for q, t in queries.items()], runs["run-0"].with_texts(texts))
    reranker.costs.write_jsonl(tmp_path / "llm.costs.jsonl")
    write_run(reranked, tmp_path / "llm.run", info={"stage": repr(reranker), "costs": tmp_path / "llm.costs.jsonl"})
    write_run(runs["run-0"], tmp_path / "first.run")
    write_qrels(qrels, tmp_path / "qrels.txt")
    calls = [json.loads(line) for line in (tmp_path / "llm.costs.jsonl").read_text().splitlines()]
    assert len(calls) == 12  # one per candidate
    code, _, err = run_cli(capsys, "report", tmp_path / "first.run", tmp_path / "llm.run", "--qrels",
                           tmp_path / "qrels.txt", "-o", tmp_path / "r.html")
    assert code == 0 and "LLM costs of 1 run(s)" in err, err
    page = Page((tmp_path / "r.html").read_text())
    cells = {a["data-key"]: a for tag, a in page.elements if tag == "td" and "data-key" in a}
    assert float(cells["calls"]["data-total"]) == 12
    assert float(cells["prompt_tokens"]["data-total"]) == sum(c["prompt_tokens"] for c in calls)
    assert float(cells["prompt_tokens"]["data-mean"]) == sum(c["prompt_tokens"] for c in calls) / 3


def test_texts_from_a_beir_folder_keep_only_what_the_drilldown_shows(files, collection, capsys):
    from rankwise.io import write_beir
    from rankwise.report.inputs import candidate_docids, texts_from_beir
    from rankwise.types import Dataset

    runs, qrels, queries, documents = collection
    corpus = {d: _doc(d, t) for d, t in documents.items()}
    write_beir(Dataset("syn", corpus, [Query(q, t) for q, t in queries.items()], qrels), files / "beir")
    wanted = candidate_docids(runs, 3)
    got_queries, got_docs = texts_from_beir(files / "beir", wanted)
    assert got_queries == queries and got_docs == {d: documents[d] for d in wanted}
    code, _, err = run_cli(capsys, "report", files / "run-0.run", files / "run-2.run", "--qrels", files / "qrels.txt",
                           "--dataset", files / "beir", "--rows", "3", "--drill-down", "4", "-o", files / "b.html")
    assert code == 0, err
    html = (files / "b.html").read_text()
    assert html.count("<li data-doc=") == 4 * 2 * 3 and "<mark>" in html


def test_cli_compare_html_prints_the_same_table(files, capsys):
    args = ["compare", files / "run-0.run", files / "run-2.run", "--qrels", files / "qrels.txt", "-m", "P_5"]
    _, plain, _ = run_cli(capsys, *args)
    code, with_html, err = run_cli(capsys, *args, "--html", files / "c.html")
    assert code == 0, err
    assert with_html == plain
    page = Page((files / "c.html").read_text())
    assert value_text(page.cells["run-2.run", "P_5"]) in plain


def test_cli_report_errors(files, capsys):
    base = ["report", files / "run-0.run", files / "run-1.run", "--qrels", files / "qrels.txt", "-o", files / "x.html"]
    (files / "c.jsonl").write_text("")
    code, _, err = run_cli(capsys, *base, "--costs", f"nosuch={files / 'c.jsonl'}")
    assert code == 2 and "'nosuch' is not one of the runs ['run-0.run', 'run-1.run']" in err
    code, _, err = run_cli(capsys, *base, "--costs", files / "c.jsonl")
    assert code == 2 and "no run's recorded settings name this cost log; say which run" in err
    code, _, err = run_cli(capsys, "report", files / "run-0.run", "--qrels", files / "qrels.txt", "-o", files / "x.html")
    assert code == 2 and "at least two runs" in err
    code, _, err = run_cli(capsys, *base, "--names", "a")
    assert code == 2 and "1 names for 2 runs" in err
    code, _, err = run_cli(capsys, *base, "--baseline", "zzz")
    assert code == 2 and "baseline 'zzz' is neither one of the runs" in err
    assert not (files / "x.html").exists()


# --- the real collection -------------------------------------------------------------------------------------------
def test_dl19_report_with_reference_runs(tmp_path, capsys):
    dl19 = shared_path("dl19")
    runs = [dl19 / "bm25_top100.trec", dl19 / "reference_runs" / "rankgpt-gpt35.bm25top100.trec",
            dl19 / "reference_runs" / "rankvicuna-7b.bm25top100.trec"]
    code, _, err = run_cli(capsys, "report", *runs, "--qrels", dl19 / "qrels.txt", "-l", "2",
                           "--names", "BM25", "RankGPT-3.5", "RankVicuna", "-m", "nDCG@10", "AP@100", "R@100",
                           "--candidates", dl19 / "bm25_top100.json", "-o", tmp_path / "dl19.html")
    assert code == 0, err
    page = Page((tmp_path / "dl19.html").read_text())
    assert value_text(page.cells["BM25", "ndcg_cut_10"]) == "0.5058"
    assert value_text(page.cells["RankGPT-3.5", "ndcg_cut_10"]) == "0.6938▲"
    assert value_text(page.cells["RankVicuna", "ndcg_cut_10"]).startswith("0.668")
    qrels = read_qrels(dl19 / "qrels.txt")
    table = compare_runs({n: read_run(p) for n, p in zip(["BM25", "RankGPT-3.5", "RankVicuna"], runs)}, qrels,
                         ["nDCG@10", "AP@100", "R@100"], relevance_level=2)
    for (run, metric), cell in page.cells.items():
        assert float(cell["data-value"]) == table.values[run][metric]
    details = [a for tag, a in page.elements if tag == "details"]
    assert len(details) == 43  # every judged query, with texts
