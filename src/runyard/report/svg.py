"""Charts as inline SVG text, drawn in Python: no script, no font or file from elsewhere, so a page
holding them opens offline and can be mailed. Every text from the data is escaped.

- :func:`line_chart`: curves (a band around a group's mean), axes with round ticks, a legend;
- :func:`parallel_coordinates`: one line per run across an axis per param and a last one for a
  metric, coloured from the worst value of that metric to the best.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from runyard.analyze.curves import Curve

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
FONT = 'font-family="sans-serif" font-size="11"'


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) covering low..high."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high == low:
        return [low]
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def number(value: float) -> str:
    """A tick label: 6 significant digits at most."""
    return f"{value:.6g}"


class Scale:
    """Maps data values in ``low..high`` onto pixels ``start..end`` (a flat range onto the middle)."""

    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        if self.high == self.low:
            return (self.start + self.end) / 2
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    return min(finite), max(finite)


def _segments(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive finite points (a NaN or an infinity breaks the line)."""
    parts: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if math.isfinite(x) and math.isfinite(y):
            parts[-1].append((x, y))
        elif parts[-1]:
            parts.append([])
    return [p for p in parts if p]


def _path(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def line_chart(curves: Sequence[Curve], *, title: str = "", x_label: str = "step", y_label: str = "",
               width: int = 640, height: int = 320, best: str | None = None) -> str:
    """An SVG line chart of ``curves``; ``best`` (a label) is drawn thicker and starred in the legend."""
    left, right, top, bottom = 64, 16, 28 if title else 12, 40
    legend_width = 220 if curves else 0
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for c in curves for x in c.xs]
    ys = [y for c in curves for y in (*c.ys, *c.low, *c.high)]
    (x_low, x_high), (y_low, y_high) = _bounds(xs), _bounds(ys)
    sx = Scale(x_low, x_high, left, left + plot_w)
    sy = Scale(y_low, y_high, top + plot_h, top)
    out = [f'<svg class="chart" width="{width + legend_width}" height="{max(height, 24 + 16 * len(curves))}" '
           f'viewBox="0 0 {width + legend_width} {max(height, 24 + 16 * len(curves))}" role="img">']
    if title:
        out.append(f'<text x="{left}" y="16" {FONT} font-weight="bold">{escape(title)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    for tick in nice_ticks(y_low, y_high):
        y = sy(tick)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{number(tick)}</text>')
    for tick in nice_ticks(x_low, x_high):
        x = sx(tick)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#999"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" {FONT}>{number(tick)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" {FONT}>'
               f'{escape(x_label)}</text>')
    if y_label:
        out.append(f'<text transform="translate(12,{top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
                   f'{FONT}>{escape(y_label)}</text>')
    for i, curve in enumerate(curves):
        stroke = color(i)
        if curve.low and curve.high:
            upper = [(sx(x), sy(y)) for x, y in zip(curve.xs, curve.high, strict=True)]
            lower = [(sx(x), sy(y)) for x, y in zip(curve.xs, curve.low, strict=True)]
            for part in _segments([*upper, *reversed(lower)]):
                out.append(f'<polygon points="{_path(part)}" fill="{stroke}" fill-opacity="0.15" stroke="none"/>')
        thick = 2.5 if curve.label == best else 1.5
        tip = escape(f"{curve.label}: last {number(curve.last)}" + (f" ({curve.runs} runs)" if curve.runs > 1
                                                                       else ""))
        points = [(sx(x), sy(y)) for x, y in zip(curve.xs, curve.ys, strict=True)]
        for part in _segments(points):
            if len(part) == 1:
                x, y = part[0]
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{stroke}"><title>{tip}</title></circle>')
            else:
                out.append(f'<polyline points="{_path(part)}" fill="none" stroke="{stroke}" '
                           f'stroke-width="{thick}"><title>{tip}</title></polyline>')
        ly = top + 8 + 16 * i
        star = " ★" if curve.label == best else ""
        out.append(f'<rect x="{width + 4}" y="{ly - 8}" width="12" height="4" fill="{stroke}"/>')
        out.append(f'<text x="{width + 22}" y="{ly - 2}" {FONT}>{escape(_short(curve.label))}{star}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _short(text: str, most: int = 32) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def _axis_values(values: Sequence[Any]) -> tuple[bool, list[Any]]:
    """(numeric, the sorted distinct values) of one axis (missing values left out)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if numeric:
        return True, sorted(set(present))
    return False, sorted({str(v) for v in present})


def parallel_coordinates(rows: Sequence[Mapping[str, Any]], axes: Sequence[str], metric: str, *, mode: str = "max",
                         height: int = 320) -> str:
    """One polyline per row (a run) through a vertical axis per name of ``axes`` (params) and a last one for
    ``metric``; numbers on a linear scale, text evenly spaced in sorted order; the lines coloured from red
    (the worst ``metric``) to green (the best), grey without a value. Each line's tooltip is its run's name."""
    names = [*axes, metric]
    gap = 140
    left, top, bottom = 50, 30, 30
    width = left * 2 + gap * max(1, len(names) - 1)
    scales = []
    for name in names:
        numeric, values = _axis_values([row.get(name) for row in rows])
        scales.append((numeric, values))
    out = [f'<svg class="parallel" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    metric_values = [v for v in (_number(row.get(metric)) for row in rows) if v is not None]
    low, high = (min(metric_values), max(metric_values)) if metric_values else (0.0, 1.0)

    def y_of(index: int, value: Any) -> float | None:
        numeric, values = scales[index]
        if value is None or (isinstance(value, float) and math.isnan(value)) or not values:
            return None
        if numeric:
            if not _finite(value):
                return None
            return Scale(float(values[0]), float(values[-1]), height - bottom, top)(float(value))
        position = values.index(str(value)) if str(value) in values else 0
        return Scale(0, max(1, len(values) - 1), height - bottom, top)(position) if len(values) > 1 \
            else (top + height - bottom) / 2

    for row in rows:
        points = [(left + gap * i, y_of(i, row.get(name))) for i, name in enumerate(names)]
        value = row.get(metric)
        known = _number(value)
        if known is not None:
            share = 0.5 if high == low else (known - low) / (high - low)
            stroke = _ramp(share if mode == "max" else 1 - share)
        else:
            stroke = "#bbb"
        drawn = [(x, y) for x, y in points if y is not None]
        if len(drawn) >= 2:
            out.append(f'<polyline points="{_path(drawn)}" fill="none" stroke="{stroke}" stroke-width="1.5" '
                       f'stroke-opacity="0.8"><title>{escape(str(row.get("name", "")))}: '
                       f'{escape(metric)} {escape(_text(value))}</title></polyline>')
    for i, name in enumerate(names):
        x = left + gap * i
        numeric, values = scales[i]
        out.append(f'<line x1="{x}" x2="{x}" y1="{top}" y2="{height - bottom}" stroke="#333"/>')
        out.append(f'<text x="{x}" y="{top - 12}" text-anchor="middle" {FONT} font-weight="bold">'
                   f'{escape(_short(name, 20))}</text>')
        ticks: list[tuple[Any, str]]
        if numeric and values:
            ticks = [(t, number(t)) for t in nice_ticks(float(values[0]), float(values[-1]), 4)]
        else:
            ticks = [(v, _short(str(v), 16)) for v in values[:12]]
        for value, label in ticks:
            y = y_of(i, value)
            if y is not None:
                out.append(f'<text x="{x + 4}" y="{y + 4:.1f}" {FONT}>{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def _number(value: Any) -> float | None:
    """A finite number as a float, else None."""
    return float(value) if _finite(value) else None


def _text(value: Any) -> str:
    return number(float(value)) if _finite(value) else ("" if value is None else str(value))


def _ramp(share: float) -> str:
    """Red (0) through amber to green (1)."""
    share = min(1.0, max(0.0, share))
    red = int(215 - 170 * share)
    green = int(48 + 130 * share)
    return f"#{red:02x}{green:02x}40"
