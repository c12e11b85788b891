"""The report as one self-contained HTML page: styles and a small script inline, figures as inline SVG, no fonts
or anything else fetched, so the file opens from disk, offline, anywhere.

Numbers are written twice: as people read them (``compare`` 's formatting) and, in ``data-*`` attributes, as the
exact floats ``evaluate`` returned (Python's ``repr``), so that a program reading the page gets them back unchanged.
"""
from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING

from rankwise.evaluate.compare import Comparison
from rankwise.evaluate.metrics import format_value
from rankwise.report import svg
from rankwise.report.assemble import RECALL_LEVELS
from rankwise.report.costs import COLUMNS as COST_COLUMNS

if TYPE_CHECKING:
    from rankwise.report.assemble import Report
    from rankwise.report.drilldown import Drilldown, QueryView

CSS = """
.rankwise-report{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d1d1f;
 font-size:14px;line-height:1.45;max-width:1500px;margin:0 auto;padding:0 18px 40px}
.rankwise-report h1{font-size:22px;margin:18px 0 4px}.rankwise-report h2{font-size:18px;margin:28px 0 8px;
 border-bottom:1px solid #ddd;padding-bottom:4px}.rankwise-report h3{font-size:15px;margin:14px 0 6px}
.rw-meta,.rw-note,.rw-legend{color:#555;font-size:13px}.rw-warn{background:#fff4e5;border-left:4px solid #e69f00;
 padding:6px 10px;margin:6px 0;font-size:13px}
.rankwise-report nav a{margin-right:14px;color:#0072b2;text-decoration:none}
.rw-table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
.rw-table th,.rw-table td{border-bottom:1px solid #e5e5e5;padding:5px 12px;text-align:right;vertical-align:top}
.rw-table th:first-child{text-align:left}.rw-table thead th{border-bottom:2px solid #999;font-weight:600}
.rw-table td .rw-p{color:#666;font-size:11px}.rw-up{color:#00875a}.rw-down{color:#c4391d}
.rw-table tr.rw-baseline th{font-weight:600}.rw-tag{font-size:11px;color:#666;font-weight:normal}
.rw-swatch{display:inline-block;width:11px;height:11px;margin:0 5px 0 12px;vertical-align:-1px}
.rw-figs{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.rw-fig{max-width:100%;height:auto;font-family:inherit}.rw-fig a rect:hover{opacity:.7}
.rw-toolbar{margin:8px 0}.rw-toolbar input{padding:4px 8px;width:260px}.rw-toolbar button{margin-left:6px}
details.rw-q{border:1px solid #ddd;border-radius:6px;margin:6px 0;background:#fff}
details.rw-q>summary{cursor:pointer;padding:7px 10px;background:#f7f7f8;border-radius:6px}
details.rw-q[open]>summary{border-bottom:1px solid #ddd;border-radius:6px 6px 0 0}
.rw-qid{font-weight:600;margin-right:8px}.rw-qstats{display:block;color:#555;font-size:12px;margin-top:2px}
.rw-reason{color:#8a5a00;font-size:12px}
.rw-cols{display:grid;gap:10px;padding:10px;overflow-x:auto}
.rw-col h4{margin:0 0 6px;font-size:13px}.rw-col ol{list-style:none;margin:0;padding:0}
.rw-col li{border:1px solid #eee;border-radius:4px;padding:4px 6px;margin-bottom:4px;font-size:12.5px}
.rw-col li.rw-same{outline:2px solid #0072b2}.rw-rank{color:#888;margin-right:4px}
.rw-doc{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:11.5px;color:#333}
.rw-rel{display:inline-block;min-width:16px;text-align:center;border-radius:3px;margin-right:5px;font-size:11px;
 font-weight:600;color:#fff;background:#9e9e9e}
.rw-rel.rw-r1{background:#7fbf9f}.rw-rel.rw-r2{background:#2f9e6c}.rw-rel.rw-r3{background:#00704a}
.rw-rel.rw-unjudged{background:#fff;color:#b05e00;border:1px dashed #b05e00}
.rw-snip{color:#333;margin-top:2px}.rw-snip mark{background:#ffe58a;padding:0 1px}
.rw-settings dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:4px 0 12px}
.rw-settings dt{color:#555}.rw-settings dd{margin:0;word-break:break-word}
.rw-settings code{font-size:12px;background:#f5f5f5;padding:1px 4px;border-radius:3px;margin-right:4px;
 display:inline-block}
"""

SCRIPT = """
(function () {
  var root = document.querySelector('.rankwise-report');
  if (!root) return;
  root.addEventListener('mouseover', function (e) {
    var li = e.target.closest ? e.target.closest('li[data-doc]') : null;
    root.querySelectorAll('li.rw-same').forEach(function (x) { x.classList.remove('rw-same'); });
    if (!li) return;
    var block = li.closest('details');
    block.querySelectorAll('li[data-doc]').forEach(function (x) {
      if (x.getAttribute('data-doc') === li.getAttribute('data-doc')) x.classList.add('rw-same');
    });
  });
  var filter = root.querySelector('#rw-filter');
  if (filter) filter.addEventListener('input', function () {
    var words = filter.value.toLowerCase();
    var shown = 0;
    root.querySelectorAll('details.rw-q').forEach(function (d) {
      var hit = d.querySelector('summary').textContent.toLowerCase().indexOf(words) >= 0;
      d.style.display = hit ? '' : 'none';
      shown += hit ? 1 : 0;
    });
    root.querySelector('#rw-shown').textContent = shown;
  });
  function toggle(open) {
    root.querySelectorAll('details.rw-q').forEach(function (d) { if (d.style.display !== 'none') d.open = open; });
  }
  var more = root.querySelector('#rw-open'), less = root.querySelector('#rw-close');
  if (more) more.addEventListener('click', function () { toggle(true); });
  if (less) less.addEventListener('click', function () { toggle(false); });
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    if (target && target.tagName === 'DETAILS') { target.open = true; target.scrollIntoView(); }
  }
  window.addEventListener('hashchange', reveal);
  reveal();
})();
"""


def _attr(value) -> str:
    return escape(str(value), quote=True)


def _pvalue(p: float) -> str:
    return "p < 0.0001" if p < 0.0001 else f"p = {p:.4f}"


# --- the comparison table (also Comparison._repr_html_) ------------------------------------------------------------
def comparison_table(comparison: Comparison) -> str:
    """The table ``rankwise compare`` prints, as HTML: values as compare formats them, ▲/▼, adjusted p-values
    under each value (raw p-value and mean difference on hover), the legend naming test and correction."""
    c = comparison
    head = "".join(f'<th data-metric="{_attr(m)}">{escape(m)}</th>' for m in c.metrics)
    rows = []
    for run in c.runs:
        cells = []
        for m in c.metrics:
            value = c.values[run][m]
            attrs = f'data-metric="{_attr(m)}" data-value="{value!r}"'
            inner = f'<span class="rw-v">{escape(format_value(m, value))}</span>'
            if run != c.baseline:
                p, adjusted, delta = c.pvalues[run][m], c.adjusted_pvalues[run][m], c.mean_differences[run][m]
                mark = c.mark(run, m)
                attrs += (f' data-p="{p!r}" data-p-adj="{adjusted!r}" data-delta="{delta!r}" '
                          f'data-mark="{mark}" title="mean difference {delta:+.4f}; p = {p:.4g} before correction"')
                if mark:
                    inner += f'<span class="rw-mark {"rw-up" if mark == "▲" else "rw-down"}">{mark}</span>'
                inner += f'<div class="rw-p">{_pvalue(adjusted)}</div>'
            cells.append(f"<td {attrs}>{inner}</td>")
        label = escape(run) + (' <span class="rw-tag">baseline</span>' if run == c.baseline else "")
        cls = ' class="rw-baseline"' if run == c.baseline else ""
        rows.append(f'<tr data-run="{_attr(run)}"{cls}><th>{label}</th>{"".join(cells)}</tr>')
    note = f"; the p-values under the values are {c.correction.capitalize()}-adjusted" if c.correction else ""
    return (f'<table class="rw-table rw-comparison" data-baseline="{_attr(c.baseline)}" data-test="{_attr(c.test)}" '
            f'data-correction="{_attr(c.correction or "none")}" data-alpha="{c.alpha!r}"><thead><tr><th>run</th>'
            f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table><p class="rw-legend">{escape(c.legend())}'
            f"{note}</p>")


def comparison_fragment(comparison: Comparison) -> str:
    return f'<div class="rankwise-report"><style>{CSS}</style>{comparison_table(comparison)}</div>'


def _win_tie_loss(report: Report) -> str:
    metrics = report.comparison.metrics
    head = "".join(f"<th>{escape(m)}</th>" for m in metrics)
    rows = []
    for run, by_metric in report.win_tie_loss.items():
        cells = "".join(
            f'<td data-metric="{_attr(m)}" data-wins="{w}" data-ties="{t}" data-losses="{lo}">{w} / {t} / {lo}</td>'
            for m, (w, t, lo) in by_metric.items()
        )
        overlap = report.mean_overlap[run]
        rows.append(f'<tr data-run="{_attr(run)}"><th>{escape(run)}</th>{cells}'
                    f'<td data-rbo="{overlap!r}">{overlap:.3f}</td></tr>')
    return (f'<table class="rw-table rw-wtl"><thead><tr><th>run</th>{head}<th>RBO</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table><p class="rw-legend">Queries on which each run scores higher / the '
            f"same / lower than the baseline {escape(report.baseline)}; RBO: mean rank-biased overlap of its rankings "
            f"with the baseline's (p = {report.drilldown.p:g}; 1 = identical).</p>")


# --- figures -------------------------------------------------------------------------------------------------------
def _legend(report: Report, colors) -> str:
    return '<p class="rw-legend">' + "".join(
        f'<span class="rw-swatch" style="background:{colors[r]}"></span>{escape(r)}' for r in report.runs) + "</p>"


def _figures(report: Report) -> str:
    colors = svg.run_colors(report.runs)
    links = frozenset(q.qid for q in report.drilldown.queries)
    reach = max((abs(d) for deltas in report.deltas.values() for _, d in deltas), default=0.0)
    shown = [svg.delta_bars(deltas, run, report.baseline, report.primary, links, reach)
             for run, deltas in report.deltas.items()]
    n = len(next(iter(report.deltas.values()), []))
    bars = ("one bar per query; hover for the query, click to open its drill-down" if n <= svg.BAR_LIMIT
            else f"{n:,} queries: drawn as one shape per sign")
    out = [f'<section id="per-query"><h2>Per query against {escape(report.baseline)}</h2>',
           f'<p class="rw-note">Differences in {escape(report.primary)}, largest gain first, all runs on one scale '
           f"({bars}).</p>",
           '<div class="rw-figs">', *shown, "</div></section>"]
    out += ['<section id="distributions"><h2>Distributions</h2>', _legend(report, colors),
            '<p class="rw-note">Per-query values: box = quartiles, line = median, whiskers = minimum to maximum, '
            "◆ = mean.</p>", '<div class="rw-figs">']
    for metric in report.comparison.metrics:
        values = {run: list(report.results[run].per_query[metric].values()) for run in report.runs}
        out.append(svg.box_plots(values, metric, colors))
    out.append("</div></section>")
    out += ['<section id="recall-precision"><h2>Recall–precision</h2>', '<div class="rw-figs">',
            svg.line_chart(report.curves, RECALL_LEVELS, colors, "Interpolated precision at recall levels",
                           "recall", "precision"),
            "</div>", '<p class="rw-note">trec_eval\'s iprec_at_recall (11 levels), averaged over queries.</p>',
            "</section>"]
    return "\n".join(out)


def _costs(report: Report) -> str:
    if not report.costs:
        return ""
    colors = svg.run_colors(report.runs)
    head = "".join(f"<th>{escape(title)}</th>" for _, title, _ in COST_COLUMNS)
    rows = []
    for run, cost in report.costs.items():
        cells = "".join(
            f'<td data-key="{key}" data-mean="{cost.means[key]!r}" data-total="{cost.totals[key]!r}">'
            f'{fmt.format(cost.means[key])}<div class="rw-p">{cost.totals[key]:,.{2 if key == "seconds" else 0}f}'
            "</div></td>"
            for key, _, fmt in COST_COLUMNS
        )
        rows.append(f'<tr data-run="{_attr(run)}"><th>{escape(run)}<div class="rw-p">{escape(cost.strategy)}, '
                    f"{cost.queries:,} queries</div></th>{cells}</tr>")
    primary = report.primary
    points = [(run, cost.tokens_per_query, report.comparison.values[run][primary]) for run, cost in report.costs.items()]
    reference = (report.baseline, report.comparison.values[report.baseline][primary])
    figure = svg.scatter(points, colors, f"{primary} against LLM tokens", "tokens per query (prompt + completion)",
                         primary, reference=reference)
    return ('<section id="costs"><h2>LLM costs</h2><table class="rw-table rw-costs"><thead><tr><th>run</th>'
            f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table><p class="rw-legend">Per query (mean over the '
            "run's queries), run total below. seconds: the calls' latencies added up; repaired: answers that needed "
            "repair (duplicate, unknown or missing identifiers); fallback: no usable answer, input order kept.</p>"
            f'<div class="rw-figs">{figure}</div></section>')


# --- drill-down ----------------------------------------------------------------------------------------------------
def _grade(grade: int | None) -> str:
    if grade is None:
        return '<span class="rw-rel rw-unjudged" title="not judged">?</span>'
    return f'<span class="rw-rel rw-r{min(max(grade, 0), 3)}" title="judged {grade}">{grade}</span>'


def _query(view: QueryView, report: Report, open_: bool) -> str:
    metric = report.primary
    stats = []
    for run in report.runs:
        value = view.values[run]
        piece = f"{escape(run)} {value:.4f}"
        if run != report.baseline:
            piece += f" ({value - view.values[report.baseline]:+.4f}, RBO {view.overlap[run]:.3f})"
        stats.append(piece)
    reason = f' <span class="rw-reason">{escape(view.reason)}</span>' if view.reason else ""
    text = f'<span class="rw-qtext">{escape(view.text)}</span>' if view.text else ""
    columns = []
    for run in report.runs:
        items = []
        for row in view.rows[run]:
            snippet = f'<div class="rw-snip">{row.snippet}</div>' if row.snippet is not None else ""
            items.append(f'<li data-doc="{_attr(row.docid)}"><span class="rw-rank">{row.rank}.</span>'
                         f'{_grade(row.grade)}<span class="rw-doc">{escape(row.docid)}</span>{snippet}</li>')
        body = "".join(items) or '<li class="rw-note">no ranking for this query</li>'
        columns.append(f'<div class="rw-col" data-run="{_attr(run)}"><h4>{escape(run)} · {view.values[run]:.4f}'
                       f"</h4><ol>{body}</ol></div>")
    grid = f"grid-template-columns:repeat({len(columns)},minmax(230px,1fr))"
    return (f'<details class="rw-q" id="q-{_attr(view.qid)}" data-qid="{_attr(view.qid)}"{" open" if open_ else ""}>'
            f'<summary><span class="rw-qid">{escape(view.qid)}</span>{text}{reason}<span class="rw-qstats">'
            f'{escape(metric)}: {" · ".join(stats)} — {view.relevant} relevant of {view.judged} judged</span></summary>'
            f'<div class="rw-cols" style="{grid}">{"".join(columns)}</div></details>')


def _drilldown(report: Report) -> str:
    d: Drilldown = report.drilldown
    shown = len(d.queries)
    if d.limited:
        scope = (f"Showing {shown:,} of {d.total:,} queries: alternately those with the largest change of "
                 f"{escape(d.metric)} against the baseline and those whose rankings overlap least with the "
                 f"baseline's (lowest RBO). The other {d.total - shown:,} are left out to keep the page small; "
                 "<code>--drill-down N</code> shows more.")
        scope = f'<p class="rw-warn" id="rw-limit">{scope}</p>'
    else:
        scope = (f'<p class="rw-note">All {d.total:,} queries, largest change of {escape(d.metric)} first.</p>')
    texts = any(row.snippet is not None for q in d.queries for rows in q.rows.values() for row in rows)
    hint = "" if texts else (" Passage texts are not shown: give <code>--candidates</code> or <code>--dataset</code> "
                             "to see them.")
    toolbar = ('<div class="rw-toolbar"><input id="rw-filter" type="search" placeholder="filter by query id or text">'
               f' <span class="rw-note"><span id="rw-shown">{shown}</span> shown</span>'
               '<button id="rw-open" type="button">open all</button><button id="rw-close" type="button">close all'
               "</button></div>")
    body = "\n".join(_query(v, report, i == 0) for i, v in enumerate(d.queries))
    return (f'<section id="drilldown"><h2>Drill-down</h2>{scope}<p class="rw-note">Top {d.depth} documents of '
            "each run side by side: judged grade (? = not judged), document id and passage with the query's terms "
            f"highlighted; hovering a document outlines it in every run.{hint}</p>{toolbar}{body}</section>")


# --- settings ------------------------------------------------------------------------------------------------------
def _settings(report: Report) -> str:
    blocks = []
    for run in report.runs:
        source = report.sources.get(run)
        queries, candidates = report.num_candidates[run]
        items = [("file", escape(source.path) if source and source.path else "(in memory)"),
                 ("queries · candidates", f"{queries:,} · {candidates:,}")]
        info = source.settings if source else None
        warn = ""
        if info:
            items.append(("written by", f"rankwise {escape(str(info.get('rankwise', '?')))} on "
                                        f"{escape(str(info.get('created', '?')))}"))
            if info.get("stage"):
                items.append(("stage", f"<code>{escape(str(info['stage']))}</code>"))
            if info.get("command"):
                items.append(("command", f"<code>{escape(' '.join(map(str, info['command'])))}</code>"))
            if info.get("seconds") is not None:
                items.append(("time taken", f"{float(info['seconds']):,.1f} s"))
            if info.get("costs"):
                items.append(("LLM cost log", escape(str(info["costs"]))))
            given = {k: v for k, v in (info.get("parameters") or {}).items() if v is not None}
            if given:
                items.append(("options", " ".join(f"<code>{escape(k)}={escape(json.dumps(v, default=str))}</code>"
                                                  for k, v in given.items())))
            if info.get("stale"):
                warn = ('<p class="rw-warn">The run file has changed since rankwise wrote these settings: they may '
                        "not describe it.</p>")
        else:
            warn = ('<p class="rw-note">No settings recorded: rankwise did not write this run (or its '
                    "<code>.rankwise.json</code> file is not beside it).</p>")
        dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
        blocks.append(f'<div class="rw-run-settings" data-run="{_attr(run)}"><h3>{escape(run)}</h3>{warn}'
                      f"<dl>{dl}</dl></div>")
    return f'<section id="settings" class="rw-settings"><h2>Runs and their settings</h2>{"".join(blocks)}</section>'


# --- page ----------------------------------------------------------------------------------------------------------
def _header(report: Report) -> str:
    from rankwise import __version__

    options = next(iter(report.results.values())).options
    flags = [f"relevance level {options['relevance_level']}"]
    if options.get("judged_only"):
        flags.append("judged documents only (-J)")
    if options.get("depth"):
        flags.append(f"depth {options['depth']} (-M)")
    if options.get("complete"):
        flags.append("missing queries score 0 (-c)")
    queries = len(report.results[report.baseline].queries)
    qrels = f"qrels {escape(report.qrels_name)} · " if report.qrels_name else ""
    notes = "".join(f'<p class="rw-warn">{escape(n)}</p>' for n in report.notes)
    nav = [("comparison", "Comparison"), ("per-query", "Per query"), ("distributions", "Distributions"),
           ("recall-precision", "Recall–precision")]
    nav += [("costs", "LLM costs")] if report.costs else []
    nav += [("drilldown", "Drill-down"), ("settings", "Runs and settings")]
    links = "".join(f'<a href="#{k}">{v}</a>' for k, v in nav)
    return (f"<header><h1>{escape(report.title)}</h1><p class=\"rw-meta\">{qrels}{queries:,} queries evaluated · "
            f"{len(report.runs)} runs · {'; '.join(flags)} · written {escape(report.created)} by rankwise "
            f"{__version__}</p><nav>{links}</nav>{notes}</header>")


def _comparison_section(report: Report) -> str:
    return (f'<section id="comparison"><h2>Comparison</h2>{comparison_table(report.comparison)}'
            f"<h3>Wins, ties and losses against {escape(report.baseline)}</h3>{_win_tie_loss(report)}</section>")


def render_page(report: Report) -> str:
    """The whole report as a standalone HTML document."""
    from rankwise import __version__

    body = "\n".join([_header(report), _comparison_section(report), _figures(report), _costs(report),
                      _drilldown(report), _settings(report)])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"rankwise {__version__}\"><title>{escape(report.title)}</title>"
            f"<style>{CSS}</style></head><body><div class=\"rankwise-report\">\n{body}\n</div>"
            f"<script>{SCRIPT}</script></body></html>\n")


def render_fragment(report: Report) -> str:
    """Table and figures for a notebook cell (the drill-down is in the page ``report.write(path)`` saves)."""
    return (f'<div class="rankwise-report"><style>{CSS}</style>{_comparison_section(report)}{_figures(report)}'
            f"{_costs(report)}</div>")
