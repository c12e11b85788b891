"""The report as a person sees it: rendered by headless Chromium (Debian's chromium, driven by Playwright), with no
console error, no request leaving the file, figures that drew (elements with an area, and their colours in the
pixels), numbers on screen equal to evaluate's, and the page's script working (hover, filter, bar → drill-down)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import shared_path

from rankwise.evaluate import compare_runs, format_value
from rankwise.report import build_report
from rankwise.report.svg import BETTER_COLOR, WORSE_COLOR
from rankwise.rerank.llm.backends import Usage
from rankwise.rerank.llm.records import CostLog
from rankwise.testing.browser import check_page, find_chromium
from rankwise.testing.synthetic import synthetic_collection

pytest.importorskip("playwright", reason="the browser test drives Chromium with Playwright (pip install playwright, "
                                         "in the test extra)")
if find_chromium() is None:
    pytest.skip("Chromium is not installed: `make browser` installs Debian's chromium (as root, with apt-get), or "
                "set RANKWISE_CHROMIUM to a Chromium executable", allow_module_level=True)

METRICS = ["ndcg_cut_10", "map", "P_5"]


def colour_pixels(png: bytes, hex_colour: str, tolerance: int = 40) -> int:
    """Pixels of a PNG screenshot within ``tolerance`` of a colour (per channel)."""
    from PIL import Image

    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    return int(np.all(np.abs(pixels - target) <= tolerance, axis=-1).sum())


def test_report_renders_in_chromium(tmp_path):
    runs, qrels, queries, documents = synthetic_collection(num_queries=60, num_runs=3, depth=20, seed=7)
    costs = CostLog("llm:listwise")
    for qid in runs["run-2"]:
        costs.add(qid, "window", Usage(prompt_tokens=900, completion_tokens=40, forward_passes=40, latency_s=1.5))
    report = build_report(runs, qrels, METRICS, queries=queries, documents=documents, costs={"run-2": costs},
                          drilldown_queries=10)
    path = report.write(tmp_path / "report.html")
    seen = {}

    def actions(page):
        seen["cells"] = page.eval_on_selector_all(
            "table.rw-comparison td",
            "cells => cells.map(td => [td.closest('tr').dataset.run, td.dataset.metric, "
            "td.querySelector('.rw-v').textContent + (td.querySelector('.rw-mark') || {textContent: ''}).textContent,"
            " td.getBoundingClientRect().width])")
        seen["delta_png"] = page.locator('svg[data-figure="delta"]').first.screenshot()
        first = page.locator("details.rw-q[open] li[data-doc]").first
        first.hover()
        seen["hovered"] = first.get_attribute("data-doc")
        seen["outlined"] = page.locator("li.rw-same").evaluate_all("els => els.map(e => e.dataset.doc)")
        target = report.drilldown.queries[3].qid
        page.fill("#rw-filter", target)
        seen["shown"] = page.text_content("#rw-shown")
        seen["visible"] = page.locator("details.rw-q:visible").evaluate_all("els => els.map(e => e.dataset.qid)")
        page.fill("#rw-filter", "")
        link = page.locator('svg[data-figure="delta"] a').last
        qid = link.get_attribute("href")[3:]
        seen["was_open"] = page.locator(f'details[data-qid="{qid}"]').evaluate("d => d.open")
        link.locator("rect").click()
        page.wait_for_function(f"document.querySelector('details[data-qid=\"{qid}\"]').open")
        seen["opened"] = page.locator(f'details[data-qid="{qid}"]').evaluate("d => d.open")

    check = check_page(path, tmp_path / "report.png", actions=actions, full_page=True)
    assert check.console_errors == []
    assert check.external_requests == []
    kinds = [f["kind"] for f in check.figures]
    assert kinds.count("delta") == 2 and kinds.count("distribution") == 3 and "curve" in kinds and "scatter" in kinds
    for figure in check.figures:
        assert figure["width"] > 200 and figure["height"] > 50 and figure["marks"] > 0, figure
    # the bars are on screen in their colours: gains and losses of run-1 against run-0
    assert colour_pixels(seen["delta_png"], BETTER_COLOR) > 50
    assert colour_pixels(seen["delta_png"], WORSE_COLOR) > 50
    # what the screen shows is what compare computes
    table = compare_runs(runs, qrels, METRICS)
    shown = {(run, metric): text for run, metric, text, width in seen["cells"]}
    assert all(width > 0 for *_, width in seen["cells"])
    assert shown == {(run, m): format_value(m, table.values[run][m]) + table.mark(run, m)
                     for run in runs for m in METRICS}
    # the script: hovering outlines that document in every run that has it; the filter; a bar opens its query
    assert seen["outlined"] and set(seen["outlined"]) == {seen["hovered"]}
    assert seen["shown"] == "1" and seen["visible"] == [report.drilldown.queries[3].qid]
    assert seen["was_open"] is False and seen["opened"] is True
    with open(check.screenshot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_dl19_report_renders_in_chromium(tmp_path):
    from rankwise.io import read_qrels, read_run
    from rankwise.report.inputs import texts_from_candidates

    dl19 = shared_path("dl19")
    runs = {"BM25": read_run(dl19 / "bm25_top100.trec"),
            "RankGPT-3.5": read_run(dl19 / "reference_runs" / "rankgpt-gpt35.bm25top100.trec")}
    queries, documents = texts_from_candidates(dl19 / "bm25_top100.json")
    report = build_report(runs, read_qrels(dl19 / "qrels.txt"), ["nDCG@10", "R@100"], relevance_level=2,
                          queries=queries, documents=documents)
    check = check_page(report.write(tmp_path / "dl19.html"), tmp_path / "dl19.png")
    assert check.console_errors == [] and check.external_requests == []
    assert all(f["marks"] > 0 for f in check.figures) and len(check.figures) == 4
