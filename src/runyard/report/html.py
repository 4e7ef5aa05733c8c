"""``runyard report``: one self-contained HTML file of an experiment's results.

The page holds its styles and its charts (inline SVG, :mod:`runyard.report.svg`) and links to nothing:
no script, no stylesheet, font or image from elsewhere. It opens offline and can be mailed. Every
string from the store (run names, params, metric names, provenance) is escaped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from html import escape

from runyard.analyze.compare import Comparison
from runyard.analyze.curves import Curve
from runyard.analyze.formats import BEST, human_columns
from runyard.app.results import ReportData
from runyard.report.svg import line_chart, parallel_coordinates
from runyard.version import __version__

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; color: #1a7f37; }
.scroll { overflow-x: auto; }
.meta { color: #666; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; } dd { margin: 0; }
svg { max-width: 100%; height: auto; }
"""
MAX_TABLE_ROWS = 2000  # beyond this the table says how many rows it left out
MAX_LINES = 2000  # runs drawn in parallel coordinates


def table_html(comp: Comparison, *, most: int = MAX_TABLE_ROWS) -> str:
    """The comparison as an HTML table, each metric column's best value bold and starred."""
    columns = human_columns(comp, mark=True)
    if not columns:
        return "<p>no runs</p>"
    rows = len(columns[0][1])
    head = "".join(f"<th>{escape(header)}</th>" for header, _, _ in columns)
    body = []
    for i in range(min(rows, most)):
        cells = []
        for _, values, right in columns:
            text = values[i]
            best = text.endswith(BEST)
            text = text.removesuffix(BEST).rstrip() if best else text.rstrip()
            kind = " ".join(k for k, on in (("num", right), ("best", best)) if on)
            shown = f"{escape(text)} ★" if best else escape(text)
            cells.append(f'<td class="{kind}">{shown}</td>' if kind else f"<td>{shown}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class=meta>{rows - most} more rows not shown</p>" if rows > most else ""
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>' \
        + more


def best_label(curves: Sequence[Curve], mode: str) -> str | None:
    """The label of the curve whose last value is best (``max`` or ``min``)."""
    scored = [(c.last, c.label) for c in curves if math.isfinite(c.last)]
    if not scored:
        return None
    pick = max(scored) if mode == "max" else min(scored)
    return pick[1]


def page(data: ReportData, *, generated: float | None = None) -> str:
    """The HTML text of the report."""
    stamp = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(generated if generated is not None else time.time()))
    title = f"{data.experiment}: results"
    parts = [f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>",
             "<meta name=viewport content=\"width=device-width\">", f"<style>{STYLE}</style></head><body>",
             f"<h1>{escape(data.experiment)}</h1>"]
    scope = [f"{data.runs} run{'s' if data.runs != 1 else ''}"]
    if data.where:
        scope.append(f"where {data.where}")
    if data.over:
        scope.append(f"mean ± std over {', '.join(data.over)}")
    parts.append(f"<p class=meta>{escape(' · '.join(scope))} · made {escape(stamp)} by runyard "
                 f"{escape(__version__)}</p>")
    if data.metrics:
        parts.append("<h2>Best</h2><ul>")
        for metric, curves in data.metrics.items():
            mode = data.modes.get(metric, "max")
            pick = best_label(curves, mode)
            if pick is not None:
                value = next(c.last for c in curves if c.label == pick)
                parts.append(f"<li><b>{escape(metric)}</b> ({'highest' if mode == 'max' else 'lowest'}): "
                             f"{escape(pick)} with {escape(f'{value:.6g}')}</li>")
        parts.append("</ul>")
    parts.append("<h2>Runs</h2>" if not data.over else "<h2>Runs, grouped</h2>")
    parts.append(table_html(data.table))
    if data.metrics:
        parts.append("<h2>Curves</h2>")
        for metric, curves in data.metrics.items():
            best = best_label(curves, data.modes.get(metric, "max"))
            parts.append(f"<h3>{escape(metric)}</h3>")
            if metric in data.thinned:
                parts.append(f"<p class=meta>the {len(curves)} best of {data.thinned[metric]} curves (by last "
                             "value)</p>")
            parts.append(line_chart(curves, y_label=metric, best=best) if curves else "<p>no points</p>")
    if data.metrics and data.params and len(data.rows) > 1:
        parts.append("<h2>Params against metrics</h2>")
        for metric in data.metrics:
            parts.append(f"<h3>{escape(metric)}</h3>")
            parts.append(parallel_coordinates(data.rows[:MAX_LINES], data.params, metric,
                                              mode=data.modes.get(metric, "max")))
        if len(data.rows) > MAX_LINES:
            parts.append(f"<p class=meta>the first {MAX_LINES} of {len(data.rows)} runs</p>")
    parts.append("<h2>Provenance</h2>")
    if data.provenance:
        parts.append("<dl>" + "".join(f"<dt>{escape(what)}</dt><dd>{escape(value)}</dd>"
                                      for what, value in data.provenance) + "</dl>")
    else:
        parts.append("<p class=meta>nothing recorded (no step of these runs has run)</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
