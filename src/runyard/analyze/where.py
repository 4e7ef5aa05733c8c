"""The ``--where`` language: a small, safe filter over runs (no ``eval``).

Grammar (keywords are case-insensitive)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | atom
    atom       := "(" expr ")" | NAME OP value | NAME ["not"] "in" "(" value ("," value)* [","] ")"
    OP         := "==" | "=" | "!=" | "<" | "<=" | ">" | ">="
    value      := NUMBER | 'text' | "text" | WORD | true | false | null
    NAME       := WORD | `any text`

A WORD is a run of characters other than blanks, parentheses, commas, quotes, backticks and
``= ! < >``, so names like ``early-stop`` and ``model.lr`` and values like ``2024-05-01`` need
no quotes; a WORD that reads as a number is a number. Quoted text takes ``\\`` escapes.

Semantics (see docs/results.md; ``match.py`` evaluates): a comparison with a missing value is
false (``x == null`` tests for a missing value, ``x != null`` for a present one); numbers compare as
numbers; text compares as text; ``==``/``!=`` between a number and text compare the text forms
(``tag == 3`` matches the text ``"3"``); ordering between a number and text is false; booleans only
match ``true``/``false`` (or the text ``"true"``/``"false"``). ``not`` inverts the result, missing
values included.

:func:`parse` builds the AST (raising :class:`WhereError` with the column of the problem);
:meth:`Where.evaluate` computes a boolean mask over a table, vectorised, from a ``resolve`` callback
that returns the column of a name (pandas is imported only there). The nodes and :class:`WhereError`
live in ``where_nodes.py``, which both the parser and ``match.py`` build on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runyard.analyze.match import compare, present
from runyard.analyze.where_nodes import And, Compare, In, Literal, Node, Not, Or, WhereError, names
from runyard.errors import suggest

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["And", "Compare", "In", "Literal", "Node", "Not", "Or", "Resolve", "Token", "Where", "WhereError",
           "describe", "names", "parse", "suggestions", "tokenize"]

KEYWORDS = ("and", "or", "not", "in", "true", "false", "null")
OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "=")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD_STOP = set(" \t\r\n(),'\"`=!<>")


@dataclass(frozen=True)
class Token:
    kind: str  # "op", "(", ")", ",", "string", "word", "name" (backticks), "end"
    text: str  # the value (unquoted for strings and names), as written for words and operators
    pos: int  # 1-based column
    source: str = ""  # the token as written


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "(),":
            tokens.append(Token(ch, ch, start + 1, ch))
            i += 1
        elif ch in "=!<>":
            op = text[i:i + 2] if text[i:i + 2] in OPERATORS else ch
            if op == "!":
                raise WhereError(text, start + 1, "'!' must be followed by '=' (use != or not)")
            tokens.append(Token("op", "==" if op == "=" else op, start + 1, op))
            i += len(op)
        elif ch in "'\"`":
            value, i = _quoted(text, i)
            tokens.append(Token("name" if ch == "`" else "string", value, start + 1, text[start:i]))
        else:
            while i < n and text[i] not in _WORD_STOP:
                i += 1
            tokens.append(Token("word", text[start:i], start + 1, text[start:i]))
    tokens.append(Token("end", "", n + 1, ""))
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    what = "name" if quote == "`" else "text"
    raise WhereError(text, start + 1, f"unterminated {what}: add the closing {quote}")


# --- parser ------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, token: Token | None = None) -> WhereError:
        return WhereError(self.text, (token or self.tok).pos, message)

    def keyword(self, word: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() == word

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error("empty expression: expected a condition such as lr > 0.01")
        node = self.or_expr()
        if self.tok.kind != "end":
            raise self.error(f"expected 'and', 'or' or the end, not {self.tok.source!r}")
        return node

    def chain(self, word: str, operand: Callable[[], Node], combine: Callable[[Node, Node], Node]) -> Node:
        """``operand (word operand)*``, combined from the left."""
        node = operand()
        while self.keyword(word):
            self.i += 1
            node = combine(node, operand())
        return node

    def or_expr(self) -> Node:
        return self.chain("or", self.and_expr, Or)

    def and_expr(self) -> Node:
        return self.chain("and", self.not_expr, And)

    def not_expr(self) -> Node:
        if self.keyword("not"):
            self.i += 1
            return Not(self.not_expr())
        return self.atom()

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "(":
            self.i += 1
            node = self.or_expr()
            if self.tok.kind != ")":
                raise self.error(f"expected ')' to close the '(' at column {tok.pos}")
            self.i += 1
            return node
        if tok.kind == "name" or (tok.kind == "word" and tok.text.lower() not in KEYWORDS
                                  and not _NUMBER.fullmatch(tok.text)):
            self.i += 1
            return self.condition(tok)
        if tok.kind == "end":
            raise self.error("expected a condition after this point")
        hint = "; quote a name that is a keyword or a number with backticks" if tok.kind == "word" else ""
        raise self.error(f"expected a name (a param, a metric, name, status or id), not {tok.source!r}{hint}")

    def condition(self, name: Token) -> Node:
        tok = self.tok
        if tok.kind == "op":
            self.i += 1
            value = self.value(after=tok)
            if value.kind in ("null", "bool") and tok.text not in ("==", "!="):
                raise WhereError(self.text, value.pos, f"{value.text} can only be compared with == or !=")
            return Compare(name.text, tok.text, value, name.pos)
        negated = False
        if self.keyword("not"):
            negated = True
            self.i += 1
            if not self.keyword("in"):
                raise self.error("expected 'in' after 'not'")
        if self.keyword("in"):
            in_tok = self.tok
            self.i += 1
            return In(name.text, self.value_list(in_tok), negated, name.pos)
        found = "the end" if tok.kind == "end" else repr(tok.source)
        raise self.error(f"expected an operator (== != < <= > >= in) after {name.source!r}, not {found}")

    def value(self, *, after: Token) -> Literal:
        tok = self.tok
        if tok.kind == "string":
            self.i += 1
            return Literal(tok.text, tok.text, tok.pos)
        if tok.kind == "word":
            word = tok.text
            lowered = word.lower()
            if lowered in ("and", "or", "not", "in"):
                raise WhereError(self.text, after.pos, f"expected a value after {after.source!r}, not {word!r}")
            self.i += 1
            if lowered in ("true", "false"):
                return Literal(lowered == "true", lowered, tok.pos)
            if lowered == "null":
                return Literal(None, "null", tok.pos)
            if _NUMBER.fullmatch(word):
                return Literal(float(word), word, tok.pos)
            return Literal(word, word, tok.pos)
        raise WhereError(self.text, after.pos, f"expected a value after {after.source!r}")

    def value_list(self, in_tok: Token) -> tuple[Literal, ...]:
        if self.tok.kind != "(":
            raise self.error("expected '(' after 'in', as in: seed in (1, 2, 3)")
        open_tok = self.tok
        self.i += 1
        values: list[Literal] = []
        while True:
            if self.tok.kind == ")" and values:
                self.i += 1
                return tuple(values)
            previous = self.tokens[self.i - 1]
            values.append(self.value(after=previous if previous.kind != "(" else open_tok))
            if self.tok.kind == ",":
                self.i += 1
                continue
            if self.tok.kind == ")":
                self.i += 1
                return tuple(values)
            raise self.error(f"expected ',' or ')' in the list of 'in' at column {in_tok.pos}")


def parse(text: str) -> Node:
    """The AST of a ``--where`` expression, or :class:`WhereError`."""
    return _Parser(text).parse()


# --- evaluation (vectorised) ---------------------------------------------------------------------

#: ``resolve(name)`` returns the column of a name (a pandas Series), or raises KeyError with the
#: message to show (unknown name, with suggestions).
Resolve = Callable[[str], "pd.Series[Any]"]


@dataclass(frozen=True)
class Where:
    """A parsed ``--where`` expression."""

    text: str
    node: Node

    @classmethod
    def parse(cls, text: str) -> Where:
        return cls(text, parse(text))

    def names(self) -> list[str]:
        return [name for name, _ in names(self.node)]

    def check(self, known: Callable[[str], str | None]) -> None:
        """Raise WhereError (with the column) for the first name ``known`` has a complaint about."""
        for name, pos in names(self.node):
            problem = known(name)
            if problem:
                raise WhereError(self.text, pos, problem)

    def evaluate(self, resolve: Resolve, length: int) -> Any:
        """A boolean numpy array of ``length``: which rows match."""
        return self._eval(self.node, resolve, length)

    def _eval(self, node: Node, resolve: Resolve, length: int) -> Any:
        import numpy as np

        if isinstance(node, (Compare, In)) and node.name == "tag":
            tags = self._column(resolve, node.name, node.pos)
            if len(tags) == 0 or isinstance(tags.iloc[0], tuple):  # the runs' tags, not a param named tag
                return self._tagged(node, tags, length)
        if isinstance(node, Compare):
            return compare(self._column(resolve, node.name, node.pos), node.op, node.value, self.text)
        if isinstance(node, In):
            column = self._column(resolve, node.name, node.pos)
            hit = np.zeros(length, dtype=bool)
            for value in node.values:
                hit |= compare(column, "==", value, self.text)
            return (present(column) & ~hit) if node.negated else hit
        if isinstance(node, Not):
            return ~self._eval(node.operand, resolve, length)
        left = self._eval(node.left, resolve, length)
        right = self._eval(node.right, resolve, length)
        return (left & right) if isinstance(node, And) else (left | right)

    def _tagged(self, node: Compare | In, column: pd.Series[Any], length: int) -> Any:
        """``tag = x``: the runs with tag ``x``; ``tag != x`` those without; ``tag in (x, y)`` either."""
        import numpy as np

        values = node.values if isinstance(node, In) else (node.value,)
        negated = node.negated if isinstance(node, In) else node.op == "!="
        if isinstance(node, Compare) and node.op not in ("=", "==", "!="):
            raise WhereError(self.text, node.pos, "tag takes = , != , in or not in (e.g. tag = baseline)")
        wanted = {v.text for v in values}
        hit = np.fromiter((bool(wanted.intersection(tags)) for tags in column), dtype=bool, count=length)
        return ~hit if negated else hit

    def _column(self, resolve: Resolve, name: str, pos: int) -> pd.Series[Any]:
        try:
            return resolve(name)
        except KeyError as err:
            raise WhereError(self.text, pos, str(err.args[0]) if err.args else f"unknown name {name!r}") from None


def describe(node: Node) -> str:
    """The expression written back (normalised), for messages and tests."""
    if isinstance(node, Compare):
        return f"{_name(node.name)} {node.op} {_lit(node.value)}"
    if isinstance(node, In):
        inner = ", ".join(_lit(v) for v in node.values)
        return f"{_name(node.name)} {'not in' if node.negated else 'in'} ({inner})"
    if isinstance(node, Not):
        return f"not ({describe(node.operand)})"
    word = "and" if isinstance(node, And) else "or"
    return f"({describe(node.left)} {word} {describe(node.right)})"


def _name(name: str) -> str:
    plain = name and all(c not in _WORD_STOP for c in name) and name.lower() not in KEYWORDS
    return name if plain and not _NUMBER.fullmatch(name) else "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _lit(value: Literal) -> str:
    if value.kind == "text":
        return "'" + str(value.value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return value.text


def suggestions(word: str, known: Sequence[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``known`` (up to three), or nothing."""
    return suggest(word, known, most=3)
