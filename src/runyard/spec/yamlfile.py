"""YAML documents → plain Python data plus a map from key path to line number.

PyYAML silently keeps the last of two equal keys; a spec must not, so mappings are built here from the
node tree, reporting duplicates, and every key path remembers its line for error messages.

Hostile files are bounded: nesting deeper than :data:`MAX_DEPTH` and aliases that expand to more than
:data:`ALIAS_BUDGET` values beyond the file's own (a "billion laughs" file) are spec errors, found
before anything large is built. Merge keys (``<<: *base``) are expanded here too, within that budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from runyard.errors import Problem, SpecError

KeyPath = tuple[str | int, ...]

MAX_DEPTH = 64  # mappings and lists nested deeper than this are refused (a spec needs about 6)
ALIAS_BUDGET = 100_000  # values that aliases may add beyond the file's own size
MERGE_TAG = "tag:yaml.org,2002:merge"


class _TooBig(Exception):
    """Raised while loading when aliases expand past the budget or nodes nest too deep; becomes a SpecError."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the nesting depth of composed nodes bounded (its composer recurses, so an
    unbounded depth ends in RecursionError)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise _TooBig(line, f"mappings and lists nested deeper than {MAX_DEPTH} levels (a spec needs a "
                                    "few)")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def shown(text: str) -> str:
    """``text`` with every unprintable character escaped (``\\x00``, ``\\n``, ``\\udc80``), for messages."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
    budget: int

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _TooBig(node.start_mark.line + 1, f"YAML aliases (*name) expand to more than "
                                                    f"{ALIAS_BUDGET:,} values beyond the file's own: write the "
                                                    "values out, or nest fewer aliases")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError:  # e.g. an integer of more than 4,300 digits
            where = f"{self.source}:{node.start_mark.line + 1}"
            self.problems.append(Problem(where, f"{dotted(path) or 'the spec'}: {shown(str(node.value)[:40])}… "
                                                f"cannot be read as {node.tag.rsplit(':', 1)[-1]} (too long)"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == MERGE_TAG:
                self._merge(value_node, path, merged)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(f"{self.source}:{line}", f"{dotted(path) or 'the spec'}: a key must "
                                             "be a plain name, not a mapping or a list"))
                continue
            key = self._scalar(key_node, path)
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
        if not merged:
            return out
        merged.update(out)  # the mapping's own keys win; merged ones keep their place first, as in PyYAML
        return merged

    def _merge(self, value: yaml.Node, path: KeyPath, merged: dict[str, Any]) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: the keys of each mapping not given yet (earlier sources win)."""
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                line = source.start_mark.line + 1
                self.problems.append(Problem(f"{self.source}:{line}", f"{dotted(path) or 'the spec'}: `<<:` merges "
                                             "a mapping (an alias like *base) or a list of them"))
                continue
            for key, item in self._mapping(source, path).items():
                merged.setdefault(key, item)


def load_documents(text: str, source: str) -> list[Document]:
    """Parse every YAML document of ``text``; raise SpecError naming file:line for syntax errors.
    Duplicate keys do not raise here: they are in each document's ``problems``."""
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as err:  # a character YAML does not allow (a control character)
        line = text.count("\n", 0, err.position) + 1
        raise SpecError([Problem(f"{source}:{line}", f"YAML syntax error: the character {shown(chr(err.character))} "
                                                     "is not allowed in YAML (write it as an escape in a "
                                                     "double-quoted string, e.g. \"\\x07\")")]) from None
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node guarantees a node
                break
            lines: dict[KeyPath, int] = {}
            problems: list[Problem] = []
            builder = _Builder(source, loader, lines, problems, budget=len(text) + ALIAS_BUDGET)
            docs.append(Document(builder.build(node, ()), lines, problems))
    except _TooBig as err:
        raise SpecError([Problem(f"{source}:{err.line}", err.message)]) from None
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
