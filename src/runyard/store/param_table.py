"""The params of many runs (one JSON object per line, as the store keeps them) as one DataFrame.

``pandas.DataFrame(json.loads(...))`` builds a dict per run and then converts each column: about
two thirds of a large comparison. When pyarrow is installed its JSON reader parses the lines
straight into typed columns instead, and is used whenever its columns are exactly those pandas
would build: integers, floats, booleans without gaps and text. Anything else (nested values, text
pyarrow reads as dates, numbers beyond 64-bit integers, a column mixing kinds) takes the plain path, so
the frame is the same either way.
"""

from __future__ import annotations

import json
from typing import Any

#: pyarrow reads an integer beyond 64 bits as a float, which pandas keeps as an integer: a float
#: column holding a number this large takes the plain path.
_INT64_LIMIT = 2.0**63


def param_frame(lines: str) -> Any:
    """The DataFrame of the JSON objects in ``lines`` (one per line; no line breaks inside one)."""
    import pandas as pd

    if not lines:
        return pd.DataFrame(index=pd.RangeIndex(0))
    frame = _with_pyarrow(lines)
    if frame is not None:
        return frame
    return pd.DataFrame(json.loads("[" + lines.replace("\n", ",") + "]"))


def _with_pyarrow(lines: str) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.json as pa_json
    except ImportError:
        return None
    import pyarrow.compute as pc

    try:
        table = pa_json.read_json(pa.BufferReader(lines.encode()), read_options=pa_json.ReadOptions(block_size=1 << 22))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a column mixing kinds, NaN, ...
    for column, kind in zip(table.columns, table.schema.types, strict=True):
        plain = (pa.types.is_int64(kind) or pa.types.is_float64(kind) or pa.types.is_string(kind)
                 or pa.types.is_large_string(kind))
        if not plain and not (pa.types.is_boolean(kind) and column.null_count == 0):
            return None  # nested values, dates, booleans with gaps: pandas builds them otherwise
        if pa.types.is_float64(kind) and (pc.max(pc.abs(column)).as_py() or 0.0) >= _INT64_LIMIT:
            return None
    return table.to_pandas()
