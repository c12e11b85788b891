"""The report's figures as inline SVG: no script, no library, a few kilobytes each, drawn before any script runs.

Each function returns one ``<svg class="rw-fig">`` element. Large inputs stay small: past :data:`BAR_LIMIT`
queries the per-query bars become one filled shape per sign (the deltas are sorted, so the shape loses nothing a
screen could show), sampled at two points per pixel.
"""
from __future__ import annotations

import math
from html import escape
from typing import Mapping, Sequence

import numpy as np

# Okabe & Ito's colour-blind-safe palette; runs take colours in order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
BETTER_COLOR, WORSE_COLOR, GRID = "#009E73", "#D55E00", "#e3e3e3"
BAR_LIMIT = 400  # up to this many queries, one bar each (hover shows the query, a click opens its drill-down)


def run_colors(runs: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(runs)}


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks, value = [], first
    while value < hi + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


class _Plot:
    """A plotting area inside an SVG of ``width`` × ``height`` pixels, with linear data → pixel maps."""

    def __init__(self, width, height, xlim, ylim, left=50, right=14, top=28, bottom=34):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, width - right, top, height - bottom
        self.xlim, self.ylim = xlim, ylim
        self.parts: list[str] = []

    def x(self, value: float) -> float:
        lo, hi = self.xlim
        return self.left + (value - lo) / (hi - lo) * (self.right - self.left)

    def y(self, value: float) -> float:
        lo, hi = self.ylim
        return self.bottom - (value - lo) / (hi - lo) * (self.bottom - self.top)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x, y, text, anchor="start", size=11, weight="normal", fill="#222", cls=""):
        extra = f' class="{cls}"' if cls else ""
        self.add(f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" font-size="{size}" '
                 f'font-weight="{weight}" fill="{fill}"{extra}>{escape(text)}</text>')

    def axes(self, xticks=None, yticks=None, xlabel="", ylabel="", yformat=_label, xformat=_label):
        for t in yticks or []:
            y = self.y(t)
            self.add(f'<line x1="{self.left}" x2="{self.right}" y1="{_num(y)}" y2="{_num(y)}" stroke="{GRID}"/>')
            self.text(self.left - 5, y + 4, yformat(t), anchor="end", size=10, fill="#555")
        for t in xticks or []:
            x = self.x(t)
            self.add(f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{self.top}" y2="{self.bottom}" stroke="{GRID}"/>')
            self.text(x, self.bottom + 14, xformat(t), anchor="middle", size=10, fill="#555")
        self.add(f'<rect x="{self.left}" y="{self.top}" width="{_num(self.right - self.left)}" '
                 f'height="{_num(self.bottom - self.top)}" fill="none" stroke="#999"/>')
        if xlabel:
            self.text((self.left + self.right) / 2, self.height - 4, xlabel, anchor="middle", fill="#444")
        if ylabel:
            cy = (self.top + self.bottom) / 2
            self.add(f'<text transform="translate(12 {_num(cy)}) rotate(-90)" text-anchor="middle" '
                     f'font-size="11" fill="#444">{escape(ylabel)}</text>')

    def svg(self, label: str, kind: str) -> str:
        return (f'<svg class="rw-fig" data-figure="{kind}" xmlns="http://www.w3.org/2000/svg" '
                f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" height="{self.height}" '
                f'role="img" aria-label="{escape(label)}">' + "".join(self.parts) + "</svg>")


def delta_bars(deltas: Sequence[tuple[str, float]], run: str, baseline: str, metric: str,
               links: frozenset[str] = frozenset(), reach: float | None = None, width: int = 600,
               height: int = 210) -> str:
    """Per-query differences ``run - baseline`` on ``metric``, sorted: gains left (green), losses right (red).
    Bars of queries in ``links`` link to their drill-down. The y axis spans ±``reach`` (default: the largest
    difference), so that several runs can share one scale."""
    values = np.array([d for _, d in deltas], dtype=float)
    n = len(values)
    if reach is None:
        reach = float(np.max(np.abs(values))) if n else 0.0
    reach = reach or 0.05
    ticks = nice_ticks(-reach, reach, 4)
    plot = _Plot(width, height, (0, max(n, 1)), (min(ticks[0], -reach), max(ticks[-1], reach)), bottom=22)
    plot.axes(yticks=ticks, ylabel=f"Δ {metric}", yformat=lambda t: f"{t:+g}" if t else "0")
    zero = plot.y(0)
    wins, ties, losses = int(np.sum(values > 0)), int(np.sum(values == 0)), int(np.sum(values < 0))
    plot.text(plot.left, 18, f"{run} − {baseline}: {metric} per query", weight="bold")
    plot.text(plot.right, 18, f"{wins} better · {ties} tied · {losses} worse · {n:,} queries", anchor="end",
              fill="#444")
    if n <= BAR_LIMIT:
        step = (plot.right - plot.left) / max(n, 1)
        for i, (qid, delta) in enumerate(deltas):
            if delta == 0:
                continue
            top, bottom = sorted((plot.y(delta), zero))
            color = BETTER_COLOR if delta > 0 else WORSE_COLOR
            bar = (f'<rect class="rw-bar" x="{plot.x(i) + step * 0.1:.1f}" y="{top:.1f}" '
                   f'width="{max(step * 0.8, 0.6):.2f}" height="{max(bottom - top, 0.5):.1f}" fill="{color}">'
                   f"<title>query {escape(qid)}: {delta:+.4f}</title></rect>")
            plot.add(f'<a href="#q-{escape(qid)}">{bar}</a>' if qid in links else bar)
    else:
        sample = max(1, math.ceil(n / (2 * (plot.right - plot.left))))
        index = sorted(set(range(0, n, sample)) | {n - 1})
        for sign, color in ((1, BETTER_COLOR), (-1, WORSE_COLOR)):
            part = np.clip(values * sign, 0, None) * sign
            if not np.any(part):
                continue
            points = " ".join(f"{plot.x(i + 0.5):.1f},{plot.y(part[i]):.1f}" for i in index)
            plot.add(f'<polygon class="rw-area" points="{plot.x(0.5):.1f},{zero:.1f} {points} '
                     f'{plot.x(n - 0.5):.1f},{zero:.1f}" fill="{color}"/>')
    plot.add(f'<line x1="{plot.left}" x2="{plot.right}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#333"/>')
    return plot.svg(f"per-query {metric} differences of {run} against {baseline}", "delta")


def box_plots(values: Mapping[str, Sequence[float]], metric: str, colors: Mapping[str, str], width: int = 400) -> str:
    """One horizontal box per run, named on the left: quartiles, whiskers from minimum to maximum, ◆ the mean."""
    names = list(values)
    arrays = {name: np.asarray(list(values[name]), dtype=float) for name in names}
    everything = np.concatenate([a for a in arrays.values() if a.size] or [np.zeros(1)])
    lo, hi = float(everything.min()), float(everything.max())
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    ticks = nice_ticks(lo, hi, 4)
    row, top, bottom = 24, 28, 24
    plot = _Plot(width, top + bottom + row * len(names), (ticks[0], ticks[-1]), (0, len(names)), left=96, right=14,
                 top=top, bottom=bottom)
    plot.axes(xticks=ticks)
    plot.text(plot.left, 18, metric, weight="bold")
    for i, name in enumerate(names):
        a = arrays[name]
        if not a.size:
            continue
        q0, q1, q2, q3, q4 = np.quantile(a, [0, 0.25, 0.5, 0.75, 1])
        mean = float(a.mean())
        cy = plot.top + row * (i + 0.5)
        c = colors[name]
        plot.text(plot.left - 6, cy + 4, _short(name, 15), anchor="end", size=10)
        tip = (f"{name}: mean {mean:.4f}, median {q2:.4f}, quartiles {q1:.4f}–{q3:.4f}, "
               f"min {q0:.4f}, max {q4:.4f} ({a.size:,} queries)")
        plot.add(f'<g class="rw-box"><title>{escape(tip)}</title>'
                 f'<line x1="{plot.x(q0):.1f}" x2="{plot.x(q4):.1f}" y1="{cy:.1f}" y2="{cy:.1f}" stroke="{c}"/>'
                 f'<rect x="{plot.x(q1):.1f}" y="{cy - 7:.1f}" width="{max(plot.x(q3) - plot.x(q1), 1):.1f}" '
                 f'height="14" fill="{c}" fill-opacity="0.25" stroke="{c}"/>'
                 f'<line x1="{plot.x(q2):.1f}" x2="{plot.x(q2):.1f}" y1="{cy - 7:.1f}" y2="{cy + 7:.1f}" '
                 f'stroke="{c}" stroke-width="2"/>'
                 f'<path d="M{plot.x(mean):.1f} {cy - 5:.1f}l5 5l-5 5l-5 -5z" fill="{c}"/></g>')
    return plot.svg(f"distribution of per-query {metric}", "distribution")


def line_chart(curves: Mapping[str, Sequence[float]], xs: Sequence[float], colors: Mapping[str, str],
               title: str, xlabel: str, ylabel: str, width: int = 560, height: int = 300) -> str:
    """One line with markers per run (the recall–precision curve); the legend on the right."""
    plot = _Plot(width, height, (0, 1), (0, 1), right=150)
    ticks = nice_ticks(0, 1, 5)
    plot.axes(xticks=ticks, yticks=ticks, xlabel=xlabel, ylabel=ylabel)
    plot.text(plot.left, 18, title, weight="bold")
    for name, ys in curves.items():
        c = colors[name]
        points = " ".join(f"{plot.x(x):.1f},{plot.y(y):.1f}" for x, y in zip(xs, ys))
        plot.add(f'<polyline class="rw-line" points="{points}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y in zip(xs, ys):
            plot.add(f'<circle cx="{plot.x(x):.1f}" cy="{plot.y(y):.1f}" r="3" fill="{c}">'
                     f"<title>{escape(name)}: precision {y:.4f} at recall {x:.1f}</title></circle>")
    for i, name in enumerate(curves):
        y = plot.top + 8 + 16 * i
        plot.add(f'<rect x="{plot.right + 12}" y="{y - 8}" width="10" height="10" fill="{colors[name]}"/>')
        plot.text(plot.right + 27, y + 1, _short(name, 20), size=10)
    return plot.svg(title, "curve")


def scatter(points: Sequence[tuple[str, float, float]], colors: Mapping[str, str], title: str, xlabel: str,
            ylabel: str, reference: tuple[str, float] | None = None, width: int = 430, height: int = 300) -> str:
    """Labelled points ``(name, x, y)``; ``reference`` = (name, y) draws a dashed horizontal line."""
    xs = [x for _, x, _ in points] or [1.0]
    ys = [y for _, _, y in points] + ([reference[1]] if reference else [])
    xticks = nice_ticks(0, max(xs) * 1.1 or 1.0, 4)
    ylo, yhi = min(ys), max(ys)
    pad = max((yhi - ylo) * 0.15, 0.02)
    yticks = nice_ticks(max(ylo - pad, 0), yhi + pad, 4)
    plot = _Plot(width, height, (xticks[0], xticks[-1]), (yticks[0], yticks[-1]))
    plot.axes(xticks=xticks, yticks=yticks, xlabel=xlabel, ylabel=ylabel)
    plot.text(plot.left, 18, title, weight="bold")
    if reference:
        y = plot.y(reference[1])
        plot.add(f'<line x1="{plot.left}" x2="{plot.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#777" '
                 f'stroke-dasharray="5 4"/>')
        plot.text(plot.right - 4, y - 4, f"{_short(reference[0], 30)} {reference[1]:.4f}", anchor="end", size=10,
                  fill="#555")
    for name, x, y in points:
        plot.add(f'<circle class="rw-point" cx="{plot.x(x):.1f}" cy="{plot.y(y):.1f}" r="5" fill="{colors[name]}">'
                 f"<title>{escape(name)}: {y:.4f} at {x:,.0f}</title></circle>")
        plot.text(plot.x(x) + 8, plot.y(y) + 4, _short(name, 28), size=10)
    return plot.svg(title, "scatter")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
