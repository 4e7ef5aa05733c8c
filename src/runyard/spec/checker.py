"""The tools every part of spec validation shares: a :class:`Checker` collecting problems with their
place (``file:line: key.path``), and checks of names, numbers, lists and durations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runyard.errors import Problem, suggest
from runyard.spec.yamlfile import KeyPath, dotted

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
PARAM_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
STEP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
RESERVED = ("out", "run", "name", "time")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)?", re.IGNORECASE)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "": 1.0}


class Checker:
    """The problems found so far, each with its place in the spec file."""


    def __init__(self, source: str, lines: Mapping[KeyPath, int], spelling: Mapping[KeyPath, KeyPath]) -> None:
        self.source = source
        self.lines = lines
        self.spelling = spelling
        self.problems: list[Problem] = []

    def where(self, path: KeyPath) -> str:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        loc = f"{self.source}:{line}" if line else self.source
        for size in range(len(path), 0, -1):  # the file's own spelling of the path (mlrunner: template.train ...)
            if path[:size] in self.spelling:
                path = (*self.spelling[path[:size]], *path[size:])
                break
        return f"{loc}: {dotted(path)}" if path else loc

    def add(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.where(path), message))

    def mapping(self, value: object, path: KeyPath, what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping of {what}, not {type(value).__name__}")
            return {}
        return {str(k): v for k, v in value.items()}

    def unknown_keys(self, data: Mapping[str, Any], path: KeyPath, valid: tuple[str, ...]) -> None:
        for key in data:
            if key not in valid:
                self.add(
                    (*path, key), f"unknown key{suggest(key, valid)} (valid: {', '.join(valid)})"
                )


def parse_duration(value: object) -> float:
    """``90``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1h30m"``, ``"1d"`` → seconds."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(value)
        return float(value)
    text = str(value).strip().replace(" ", "")
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(value)
        total += float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        pos = match.end()
    if total <= 0:
        raise ValueError(value)
    return total


def whole_number(check: Checker, path: KeyPath, value: object, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        check.add(path, f"must be a whole number ≥ {minimum}, not {value!r}")
        return None
    return value


def names_list(check: Checker, path: KeyPath, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    check.add(path, "must be a name or a list of names")
    return ()


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def memory_size(check: Checker, path: KeyPath, value: object) -> int | None:
    """A memory size in bytes: a whole number of bytes, or a number with a unit, ``512M``, ``10G``, ``1.5GiB``
    (K, M, G, T: powers of 1024, as ``nvidia-smi`` shows memory)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]) if match else 0
    if size <= 0:
        check.add(path, f"{value!r} is not a memory size: give bytes or a number with a unit, e.g. 512M, 10G, 1.5GiB")
        return None
    return size
