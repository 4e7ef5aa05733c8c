"""The Jinja2 environment of the dashboard: autoescaping on for every template, and the filters that
format numbers, durations and times for people."""

from __future__ import annotations

import datetime
import math
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    import jinja2


@cache
def environment() -> jinja2.Environment:
    try:
        import jinja2
    except ImportError as err:  # pragma: no cover - the command checks first
        from runyard.errors import MissingDependency

        raise MissingDependency("jinja2", "ui", "runyard ui") from err
    from runyard.ui.context import TEMPLATES

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=number, duration=duration, when=when, size=size)
    env.globals.update(query=query)
    return env


def number(value: Any, digits: int = 4) -> str:
    """A value for a table cell: floats to ``digits`` significant digits, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude >= 1e6 or magnitude < 1e-4:
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def duration(seconds: Any) -> str:
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def when(epoch: Any) -> str:
    if epoch is None:
        return ""
    return datetime.datetime.fromtimestamp(float(epoch)).strftime("%Y-%m-%d %H:%M:%S")


def size(count: Any) -> str:
    value = float(count or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def query(base: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2``: ``base`` with ``changes`` (None or "" drops a key), URL-encoded."""
    merged = {**base, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else "?"
