"""Writing a comparison: ``table`` (rich in a terminal, plain aligned text otherwise), ``csv``,
``tsv``, ``json`` and ``markdown``.

Machine formats (csv, tsv, json) keep every value exactly: numbers as Python writes them (shortest
text that reads back to the same float), booleans ``true``/``false``, times ISO 8601 in UTC, a
missing value empty (csv, tsv) or ``null`` (json); an infinite number is ``inf`` / ``-inf`` (a string
in json). With ``--over`` they have flat ``X.mean``,
``X.std``, ``X.n`` columns, except json, where each aggregated X is an object ``{"mean", "std", "n"}``.
Human formats (table, markdown) round numbers to 6 significant digits, show times in local time and
an aggregated X as ``mean ± std`` beside ``X.n``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runyard.analyze.compare import Comparison

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "csv", "tsv", "json", "markdown")


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA."""
    if value is None:
        return True
    if isinstance(value, str):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def machine(value: Any) -> Any:
    """A JSON-able Python value (None for missing)."""
    import numpy as np

    if _missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return ("inf" if number > 0 else "-inf") if math.isinf(number) else number
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def machine_text(value: Any) -> str:
    value = machine(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def human(value: Any, *, raw: bool = False) -> str:
    """A value for people: numbers to 6 significant digits (``raw``: every digit), times local."""
    import numpy as np

    if _missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if raw else f"{float(value):.6g}"
    if isinstance(value, datetime):
        stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
        return str(stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def _is_number(series: pd.Series[Any]) -> bool:
    import pandas as pd

    dtype = series.dtype
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def mean_std(mean: Any, std: Any, *, raw: bool = False) -> str:
    """``mean ± std``: the std to 2 significant digits and the mean to the same decimal place (both
    through ``human``), e.g. ``0.123 ± 0.012``; ``raw`` keeps every digit."""
    if _missing(mean):
        return ""
    if _missing(std):
        return human(mean, raw=raw)
    if raw:
        return f"{human(mean, raw=True)} ± {human(std, raw=True)}"
    spread, centre = float(std), float(mean)
    if spread == 0 or not math.isfinite(spread) or not math.isfinite(centre):
        return f"{human(centre)} ± {human(spread)}"
    decimals = 1 - math.floor(math.log10(abs(spread)))
    return f"{human(round(centre, decimals))} ± {human(round(spread, decimals))}"


BEST = " *"  # after the best value of a column (table format, --over)


def human_columns(comp: Comparison, *, raw: bool = False, mark: bool = False) -> list[tuple[str, list[str], bool]]:
    """(header, cells, right-aligned) per displayed column; ``mark`` puts :data:`BEST` after each
    metric column's best value (the others get blanks of its width, so numbers stay aligned)."""
    frame = comp.frame
    out: list[tuple[str, list[str], bool]] = []
    aggregated = set(comp.aggregated)
    skip = {f"{name}.{part}" for name in aggregated for part in ("mean", "std", "n")}
    best = comp.best_rows() if mark else {}

    def marked(name: str, cells: list[str]) -> list[str]:
        if name not in best:
            return cells
        return [c + (BEST if i == best[name] else " " * len(BEST)) for i, c in enumerate(cells)]

    for column in frame.columns:
        name = str(column)
        if name in skip:
            base = name.rsplit(".", 1)[0]
            if name.endswith(".mean"):
                means = frame[f"{base}.mean"].to_numpy()
                stds = frame[f"{base}.std"].to_numpy()
                cells = [mean_std(m, s, raw=raw) for m, s in zip(means, stds, strict=True)]
                out.append((base, marked(base, cells), True))
            elif name.endswith(".n"):
                out.append((name, [human(v) for v in frame[name].to_numpy()], True))
            continue
        series = frame[name]
        cells = [human(v, raw=raw) for v in series.to_numpy(dtype=object)]
        out.append((name, marked(name, cells), _is_number(series)))
    return out


def plain_table(comp: Comparison, *, raw: bool = False, mark: bool = False) -> str:
    """Aligned text with no box characters: two spaces between columns, numbers right-aligned."""
    columns = human_columns(comp, raw=raw, mark=mark)
    if not columns:
        return ""
    widths = [max([len(header), *(len(c) for c in cells)]) for header, cells, _ in columns]
    lines = []
    rows = len(columns[0][1])
    header = "  ".join(h.rjust(w) if right else h.ljust(w) for (h, _, right), w in zip(columns, widths, strict=True))
    lines.append(header.rstrip())
    for i in range(rows):
        cells = [(c[i].rjust(w) if right else c[i].ljust(w)) for (_, c, right), w in zip(columns, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def rich_table(comp: Comparison, *, raw: bool = False, mark: bool = False) -> Any:
    """A rich table; with ``mark``, each metric column's best value is bold green and starred."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    columns = human_columns(comp, raw=raw, mark=mark)
    for header, _, right in columns:
        table.add_column(escape(header), justify="right" if right else "left")
    for i in range(len(columns[0][1]) if columns else 0):
        table.add_row(*(f"[bold green]{escape(cells[i])}[/]" if cells[i].endswith(BEST) else escape(cells[i])
                        for _, cells, _ in columns))
    return table


def markdown(comp: Comparison, *, raw: bool = False) -> str:
    """A GitHub table: ``|`` in cells escaped, numbers right-aligned."""
    columns = human_columns(comp, raw=raw)
    if not columns:
        return ""

    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h, _, _ in columns) + " |",
             "|" + "|".join("---:" if right else "---" for _, _, right in columns) + "|"]
    for i in range(len(columns[0][1])):
        lines.append("| " + " | ".join(cell(c[i]) for _, c, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def delimited(comp: Comparison, delimiter: str) -> str:
    """csv / tsv, column by column (numbers through ``repr``: the shortest text that reads back
    exactly), quoting like the csv module only the values that need it."""
    frame = comp.frame
    columns = [_text_column(frame[column]) for column in frame.columns]
    header = [str(column) for column in frame.columns]
    columns = [_quote(cells, delimiter) for cells in columns]
    lines = [delimiter.join(_quote(header, delimiter))]
    lines += map(delimiter.join, zip(*columns, strict=True))
    return "\n".join(lines) + "\n"


_SPECIAL = ('"', "\n", "\r")


def _quote(cells: list[str], delimiter: str) -> list[str]:
    joined = "".join(cells)
    if delimiter not in joined and not any(ch in joined for ch in _SPECIAL):
        return cells
    return [f'"{c.replace(chr(34), chr(34) * 2)}"' if delimiter in c or any(ch in c for ch in _SPECIAL) else c
            for c in cells]


def _text_column(series: pd.Series[Any]) -> list[str]:
    """Machine text of every value of a column, vectorised for plain number, boolean and text columns."""
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if dtype == np.float64:
        values = series.to_numpy()
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        if len(uniques) * 2 < len(values):  # a param: few values, each written once
            texts = np.asarray([machine_text(v) for v in uniques.tolist()], dtype=object)
            return list(texts[codes])
        if not bool(np.isnan(values).any()) and not bool(np.isinf(values).any()):
            return list(map(float.__repr__, values.tolist()))
        return [machine_text(v) for v in values.tolist()]
    if dtype.kind in "iu" and not pd.api.types.is_extension_array_dtype(dtype):
        return list(map(str, series.to_numpy().tolist()))
    if dtype == np.bool_:
        return ["true" if v else "false" for v in series.to_numpy().tolist()]
    plain_text = pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)
    if plain_text and not bool(series.isna().any()):
        return list(series.to_numpy(dtype=object))
    values = series.to_numpy(dtype=object)
    if all(type(v) is str for v in values):
        return list(values)
    return [machine_text(v) for v in values]


def json_rows(comp: Comparison) -> Iterator[dict[str, Any]]:
    frame = comp.frame
    aggregated = set(comp.aggregated)
    skip = {f"{name}.{part}" for name in aggregated for part in ("mean", "std", "n")}
    names = [str(c) for c in frame.columns]
    columns = {name: frame[name].to_numpy(dtype=object) for name in names}
    for i in range(len(frame)):
        row: dict[str, Any] = {}
        for name in names:
            if name in skip:
                base, _, part = name.rpartition(".")
                row.setdefault(base, {})[part] = machine(columns[name][i])
            else:
                row[name] = machine(columns[name][i])
        yield row


def to_json(comp: Comparison) -> str:
    rows = [json.dumps(row, ensure_ascii=False, allow_nan=False) for row in json_rows(comp)]
    return "[\n" + ",\n".join("  " + r for r in rows) + "\n]\n" if rows else "[]\n"


def render(comp: Comparison, fmt: str, *, raw: bool = False) -> str:
    """The text of ``comp`` in ``fmt`` (``table`` gives the plain text table, with the best value of
    each metric starred when runs are aggregated); ``raw``: every digit in table and markdown."""
    if fmt == "csv":
        return delimited(comp, ",")
    if fmt == "tsv":
        return delimited(comp, "\t")
    if fmt == "json":
        return to_json(comp)
    if fmt == "markdown":
        return markdown(comp, raw=raw)
    if fmt == "table":
        return plain_table(comp, raw=raw, mark=bool(comp.aggregated))
    raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
