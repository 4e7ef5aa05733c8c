"""The nodes of a parsed ``--where`` expression and its error: what the parser (``where.py``) builds
and the evaluation (``match.py``) reads."""

from __future__ import annotations

from dataclasses import dataclass

from runyard.errors import UsageError


class WhereError(UsageError):
    """A bad ``--where`` expression: the message names the column (1-based) and shows a caret."""

    def __init__(self, text: str, column: int, message: str) -> None:
        self.text = text
        self.column = column
        self.reason = message
        shown = text.replace("\n", " ").replace("\t", " ")
        super().__init__(f"bad --where expression: at column {column}: {message}\n  {shown}\n  {' ' * (column - 1)}^")


@dataclass(frozen=True)
class Literal:
    value: str | float | bool | None  # numbers are floats
    text: str  # as written (numbers) or the text itself
    pos: int

    @property
    def kind(self) -> str:
        if self.value is None:
            return "null"
        if isinstance(self.value, bool):
            return "bool"
        return "number" if isinstance(self.value, float) else "text"


@dataclass(frozen=True)
class Compare:
    name: str
    op: str
    value: Literal
    pos: int


@dataclass(frozen=True)
class In:
    name: str
    values: tuple[Literal, ...]
    negated: bool
    pos: int


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    operand: Node


Node = Compare | In | And | Or | Not


def names(node: Node) -> list[tuple[str, int]]:
    """Every (name, column) the expression refers to, in order."""
    if isinstance(node, (Compare, In)):
        return [(node.name, node.pos)]
    if isinstance(node, Not):
        return names(node.operand)
    return names(node.left) + names(node.right)
