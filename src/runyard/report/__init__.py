"""Self-contained HTML of results: ``runyard report`` (a whole experiment) and ``runyard plot -o x.html``
(one metric), charts drawn as inline SVG in Python (no script, nothing fetched)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from runyard.analyze.curves import Curve
from runyard.app.results import ReportData
from runyard.report.html import STYLE, best_label, page
from runyard.report.svg import line_chart

__all__ = ["chart_page", "report_page"]


def report_page(data: ReportData) -> str:
    """The HTML text of ``runyard report``."""
    return page(data)


def chart_page(experiment: str, metric: str, curves: Sequence[Curve], mode: str = "max") -> str:
    """A page holding one chart: ``metric`` of ``experiment``."""
    title = f"{experiment}: {metric}"
    chart = line_chart(curves, title=title, y_label=metric, best=best_label(curves, mode)) if curves \
        else "<p>no points</p>"
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{chart}\n</body></html>\n")
