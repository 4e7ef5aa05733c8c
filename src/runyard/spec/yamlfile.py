"""YAML documents → plain Python data plus a map from key path to line number.

PyYAML silently keeps the last of two equal keys; a spec must not, so mappings are built here from the
node tree, reporting duplicates, and every key path remembers its line for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from runyard.errors import Problem, SpecError

KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def in_line_order(problems: list[Problem], source: str) -> list[Problem]:
    """Problems of ``source`` sorted by their line (stable; those without a line keep their place at the end)."""

    def line(problem: Problem) -> int:
        rest = problem.where[len(source) + 1:] if problem.where.startswith(source + ":") else ""
        digits = rest.split(":", 1)[0]
        return int(digits) if digits.isdigit() else 1 << 30

    return sorted(problems, key=line)


@dataclass
class Document:
    """One YAML document: its data, the line of every key path, and its duplicate-key problems (reported
    together with the spec's other problems by the loader)."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Builder:
    source: str
    loader: yaml.SafeLoader
    lines: dict[KeyPath, int]
    problems: list[Problem]

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        self.loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, bool) or key is None:
                # `yes:` / `on:` / `null:` keys: keep what the user wrote
                key = key_node.value
            key = str(key)
            child = (*path, key)
            if key in out:
                first = self.lines.get(child, "?")
                self.problems.append(
                    Problem(f"{self.source}:{line}", f"{dotted(child)}: duplicate key (first at line {first})")
                )
                continue
            self.lines[child] = line
            out[key] = self.build(value_node, child)
        return out


def load_documents(text: str, source: str) -> list[Document]:
    """Parse every YAML document of ``text``; raise SpecError naming file:line for syntax errors.
    Duplicate keys do not raise here: they are in each document's ``problems``."""
    loader = yaml.SafeLoader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node guarantees a node
                break
            lines: dict[KeyPath, int] = {}
            problems: list[Problem] = []
            builder = _Builder(source, loader, lines, problems)
            docs.append(Document(builder.build(node, ()), lines, problems))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        what = " ".join(str(x) for x in (err.context, err.problem) if x)
        raise SpecError([Problem(where, f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as err:
        raise SpecError([Problem(source, f"YAML error: {err}")]) from None
    finally:
        loader.dispose()
    return docs
