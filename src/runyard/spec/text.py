"""Text that must survive a command line and a file name: checked before a spec is parsed.

No command line, environment or file name can carry a NUL byte, and text that is not valid UTF-8 (a
lone surrogate from a ``"\\ud800"`` escape or a Python string) cannot be encoded into one either: such a
value anywhere in a spec is a spec error naming its key. Keys and names may hold no control character
at all. Names too long for a file name are shortened by :func:`runyard.layout.file_name` before anything is written.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from runyard.errors import Problem, SpecError
from runyard.spec.yamlfile import MAX_DEPTH, KeyPath, shown

MAX_INT_BITS = 14_000  # about 4,200 digits: Python turns no longer integer into text


def scalar_problem(value: object) -> str | None:
    """Why ``value`` cannot be a param's value (the same message for a YAML file and a Python call), or None."""
    if not (value is None or isinstance(value, (str, int, float, bool))):
        return f"must be a single value (text, number, true/false or null), not {type(value).__name__}"
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        return "is a whole number too long to write out (more than 4,200 digits)"
    return value_problem(value) if isinstance(value, str) else None


def value_problem(text: str) -> str | None:
    """Why ``text`` cannot be a value passed to a program, or None."""
    if "\x00" in text:
        return "holds a NUL byte (\\x00), which no command line, environment or file name can carry"
    bad = _surrogate(text)
    if bad:
        return f"holds {bad}, which is not valid UTF-8 text (a lone surrogate)"
    return None


def name_problem(text: str) -> str | None:
    """Why ``text`` cannot be a key or a name (of a param, step, sweep, group choice, metric ...), or None."""
    problem = value_problem(text)
    if problem:
        return problem
    for char in text:
        if unicodedata.category(char) == "Cc":
            return f"holds the control character {shown(char)}: names are printable text"
    return None


def plain(data: object, where: Callable[[KeyPath], str]) -> object:
    """``data`` with every mapping key as text and every tuple as a list, as YAML files give them; SpecError
    (each place named by ``where``) when it holds unsafe text or nests too deep."""
    unsafe = scan(data)
    if unsafe:
        raise SpecError([Problem(where(path), message) for path, message in unsafe])
    return _str_keys(data)


def _str_keys(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_str_keys(v) for v in value]
    return value


def scan(data: object) -> list[tuple[KeyPath, str]]:
    """Every (key path, problem) of unsafe text in ``data`` (mappings, lists, strings), and of nesting
    deeper than a spec needs (a Python spec can even hold itself)."""
    found: list[tuple[KeyPath, str]] = []
    _walk(data, (), found)
    return found


def _walk(value: object, path: KeyPath, found: list[tuple[KeyPath, str]]) -> None:
    if len(path) > MAX_DEPTH:
        if not any(message.startswith("nested deeper") for _, message in found):  # one is enough
            found.append((path[:3], f"nested deeper than {MAX_DEPTH} levels below here (a spec needs a few)"))
        return
    if isinstance(value, str):
        problem = value_problem(value)
        if problem:
            found.append((path, problem))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            text = str(key)
            problem = name_problem(text)
            if problem:
                found.append(((*path, shown(text)), f"the key {problem}"))
                continue
            _walk(item, (*path, text), found)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _walk(item, (*path, index), found)


def _surrogate(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return shown(text[err.start])
    return ""


def unsafe_keys(values: Mapping[str, object]) -> list[tuple[str, str]]:
    """(key, problem) of override keys and values given as Python values (``yard.submit(lr=...)``)."""
    found: list[tuple[str, str]] = []
    for key, value in values.items():
        problem = name_problem(str(key))
        if problem is None:
            for item in value if isinstance(value, (list, tuple)) else (value,):
                problem = value_problem(item) if isinstance(item, str) else None
                if problem:
                    break
        if problem:
            found.append((shown(str(key)), problem))
    return found


def python_value(value: Any) -> Any:
    """A numpy scalar (a DataFrame's cell, say) as the Python value it holds; anything else as it is. A value
    of a subclass of a scalar type (numpy's float64 is a float) as that type."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        try:
            value = item()
        except (TypeError, ValueError):
            return value
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    return value
