"""Vectorised evaluation of one ``--where`` comparison over a pandas column (the rules are in the
docstring of ``where.py`` and in docs/results.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runyard.analyze.where_nodes import Literal, WhereError

if TYPE_CHECKING:
    import pandas as pd


def present(column: pd.Series[Any]) -> Any:
    return column.notna().to_numpy(dtype=bool)


_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _kinds(column: pd.Series[Any]) -> tuple[Any, Any, Any, Any]:
    """Masks (number, text, bool, datetime) of the values of ``column``."""
    import numpy as np
    import pandas as pd

    n = len(column)
    none = np.zeros(n, dtype=bool)
    given = present(column)
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return none, none, given, none
    if pd.api.types.is_numeric_dtype(dtype):
        return given, none, none, none
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return none, none, none, given
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return none, given, none, none
    values = column.to_numpy(dtype=object)
    kinds = np.fromiter((_kind_code(v) for v in values), dtype=np.int8, count=n)
    return kinds == 1, kinds == 2, kinds == 3, none


def _kind_code(value: object) -> int:
    if isinstance(value, bool):
        return 3
    if isinstance(value, (int, float)):
        return 0 if value != value else 1  # NaN is missing
    if isinstance(value, str):
        return 2
    return 0


def _as_text(column: pd.Series[Any], mask: Any) -> Any:
    """The text form of each value (numbers as Python writes them, booleans as true/false)."""
    import numpy as np

    out = np.full(len(column), None, dtype=object)
    values = column.to_numpy(dtype=object)
    for i in np.nonzero(mask)[0]:
        value = values[i]
        if isinstance(value, bool):
            out[i] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            out[i] = str(int(value))
        else:
            out[i] = str(value)
    return out


def _number_text(literal: Literal) -> str:
    number = literal.value
    assert isinstance(number, float)
    return str(int(number)) if number.is_integer() else repr(number)


def compare(column: pd.Series[Any], op: str, literal: Literal, text: str) -> Any:
    import numpy as np
    import pandas as pd

    n = len(column)
    if literal.kind == "null":
        given = present(column)
        return ~given if op == "==" else given
    numbers, texts, bools, times = _kinds(column)
    result = np.zeros(n, dtype=bool)
    compare = _CMP[op]
    if literal.kind == "number":
        if numbers.any():
            values = pd.to_numeric(column.where(numbers), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                result |= numbers & compare(values, literal.value)
        if op in ("==", "!=") and texts.any():  # text vs number: compare the text forms
            forms = {literal.text, _number_text(literal)}
            text_values = column.to_numpy(dtype=object)
            equal = np.fromiter((texts[i] and text_values[i] in forms for i in range(n)), dtype=bool, count=n)
            result |= equal if op == "==" else texts & ~equal
        if op == "!=":
            result |= bools  # a boolean is never equal to a number
        return result
    if literal.kind == "bool":
        if bools.any():
            values = column.to_numpy(dtype=object)
            equal = np.fromiter((bool(bools[i]) and bool(values[i]) == literal.value for i in range(n)),
                                dtype=bool, count=n)
            result |= equal if op == "==" else bools & ~equal
        if texts.any():
            equal = texts & (_as_text(column, texts) == literal.text)
            result |= equal if op == "==" else texts & ~equal
        if op == "!=":
            result |= numbers
        return result
    # text literal
    wanted = str(literal.value)
    if times.any():
        try:
            stamp = pd.Timestamp(wanted)
        except (ValueError, TypeError):
            raise WhereError(text, literal.pos, f"{wanted!r} is not a date or time (e.g. 2024-05-01 12:00)") from None
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        values = column.to_numpy()
        with np.errstate(invalid="ignore"):
            result |= times & np.asarray(compare(pd.Series(values), stamp).fillna(False), dtype=bool)
    if texts.any():
        values = column.where(texts, "").to_numpy(dtype=object)
        result |= texts & np.asarray(compare(values, wanted), dtype=bool)
    if op in ("==", "!="):
        others = numbers | bools
        if others.any():
            equal = others & (_as_text(column, others) == wanted)
            result |= equal if op == "==" else others & ~equal
    return result
