"""The mlrunner ``params.yaml`` format, loaded unchanged into the native spec data.

Document 1: ``template`` (named command templates, run in order), ``default``, ``resource`` (one
``CUDA_VISIBLE_DEVICES`` value per worker), ``alias`` (named bundles). Every later document is one grid,
with optional ``_title`` (its sweep name) and ``_cmd`` (only those templates, plus what they need).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, NamedTuple

from runyard.errors import Problem
from runyard.spec.yamlfile import Document, KeyPath

FIRST_DOC_KEYS = ("template", "default", "resource", "alias")
_RENAME = {"template": "steps", "default": "params", "alias": "groups"}


def looks_like_mlrunner(docs: list[Document]) -> bool:
    return bool(docs) and isinstance(docs[0].data, dict) and "template" in docs[0].data


def experiment_name(folder_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", folder_name).strip("-._")
    return name or "experiment"


class Converted(NamedTuple):
    data: dict[str, Any]  # native spec data
    lines: dict[KeyPath, int]  # line of each native key path
    spelling: dict[KeyPath, KeyPath]  # native key path prefix → how this file spells it, for messages
    problems: list[Problem]  # problems of the first document that the native validation cannot see


def convert(docs: list[Document], source: str) -> Converted:
    """mlrunner documents → the native spec data, with lines and spellings for error messages."""
    first = docs[0]
    problems: list[Problem] = []
    settings: dict[str, Any] = first.data
    lines: dict[KeyPath, int] = {}
    spelling: dict[KeyPath, KeyPath] = {(native,): (key,) for key, native in _RENAME.items()}
    spelling[("resources", "gpus")] = ("resource",)
    for path, line in first.lines.items():
        if path and path[0] in _RENAME:
            native: KeyPath = (_RENAME[str(path[0])], *path[1:])
            lines[native] = line
        elif path and path[0] == "resource":
            native = ("resources", "gpus", *path[1:])
            lines[native] = line
    for key in settings:
        if key not in FIRST_DOC_KEYS:
            problems.append(Problem(f"{source}:{first.lines.get((key,), 1)}",
                                    f"{key}: unknown key in the first document (valid: {', '.join(FIRST_DOC_KEYS)})"))
    if "resource" not in settings:
        problems.append(Problem(f"{source}:1", "resource: missing: list one CUDA_VISIBLE_DEVICES value per worker"))
    data: dict[str, Any] = {"params": settings.get("default") or {}, "groups": settings.get("alias") or {}}
    gpus, per_gpu, step_gpus = _resources(settings.get("resource"), source, first, problems)
    templates = settings.get("template")
    if isinstance(templates, dict) and step_gpus is not None:
        templates = {name: {"run": body, "gpus": step_gpus} if isinstance(body, str) else body
                     for name, body in templates.items()}
    data["steps"] = templates
    data["resources"] = {"gpus": gpus, "per_gpu": per_gpu}
    sweeps: dict[str, list[Any]] = {}
    for index, doc in enumerate(docs[1:], start=1):
        if doc.data is None:
            continue
        title = doc.data.get("_title") if isinstance(doc.data, dict) else None
        name = str(title) if title else f"grid{index}"
        position = len(sweeps.get(name, []))
        sweeps.setdefault(name, []).append(doc.data)
        spelling[("sweeps", name, position)] = (f"document {index + 1}",)
        for path, line in doc.lines.items():
            native = ("sweeps", name, position, *path)
            lines[native] = line
    if sweeps:
        data["sweeps"] = sweeps
    return Converted(data, lines, spelling, problems)


def _resources(value: object, source: str, first: Document,
               problems: list[Problem]) -> tuple[list[int], int, int | None]:
    """``[0, 1]`` / ``["0,1", "2,3"]`` / repeated entries → (GPU indices, runs per GPU, GPUs per step)."""
    if value is None:
        return [], 1, None
    line = first.lines.get(("resource",), 1)
    if not isinstance(value, list) or not value:
        problems.append(Problem(f"{source}:{line}", "resource: must be a list of CUDA_VISIBLE_DEVICES values, "
                                "e.g. [0, 1] or ['0,1', '2,3']"))
        return [], 1, None
    entries: list[tuple[int, ...]] = []
    for item in value:
        parts = str(item).split(",")
        if not all(p.strip().isdigit() for p in parts):
            problems.append(Problem(f"{source}:{line}", f"resource: {item!r} is not a GPU index list like 0 or '0,1'"))
            return [], 1, None
        entries.append(tuple(int(p) for p in parts))
    gpus = list(dict.fromkeys(g for entry in entries for g in entry))
    per_gpu = max(Counter(g for entry in entries for g in entry).values())
    sizes = {len(entry) for entry in entries}
    return gpus, per_gpu, (max(sizes) if max(sizes) > 1 else None)
