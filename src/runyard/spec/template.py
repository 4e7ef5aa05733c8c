"""Placeholders in shell-command templates: parsing, with the shell's quoting tracked.

``{p}`` value · ``[p]`` flag (``--p VALUE``; booleans ``--p`` or nothing) · ``{out}`` this execution's
output folder · ``{step.out}`` an upstream step's output folder · ``{run}`` the run folder ·
``{name}`` the run's name · ``{*}`` / ``{*hydra}`` every param not referenced otherwise ·
``{{`` / ``}}`` literal braces · ``${VAR}`` is left to the shell.  A placeholder inside quotes is an
error: runyard quotes every value itself.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from runyard.errors import suggest

BUILTINS = ("out", "run", "name", "*", "*hydra")
# mlrunner spellings, accepted in every spec
ALIASES = {"_output": "run", "_name": "name", "_time": "time"}

_NAME = re.compile(r"[*A-Za-z_][A-Za-z0-9_.\-]*")
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")  # the shape of a param name (spec/parse.py PARAM_RE)


@dataclass(frozen=True)
class Ref:
    """A placeholder. kind: param | flag | out | step_out | run | name | time | all | hydra."""

    kind: str
    name: str = ""
    text: str = ""


Token = str | Ref


class TemplateError(ValueError):
    pass


def _classify(name: str, text: str, params: Collection[str], steps: Collection[str]) -> Ref:
    name = ALIASES.get(name, name)
    if name in params:
        return Ref("param", name, text)
    if name in ("out", "run", "name", "time"):
        return Ref(name, name, text)
    if name == "*":
        return Ref("all", name, text)
    if name == "*hydra":
        return Ref("hydra", name, text)
    if name.endswith(".out") and name[:-4] in steps:
        return Ref("step_out", name[:-4], text)
    raise TemplateError(_unknown(name, text, params, steps))


def _unknown(name: str, text: str, params: Collection[str], steps: Collection[str]) -> str:
    candidates = [*params, *BUILTINS, *(f"{s}.out" for s in steps)]
    hint = suggest(name, candidates, show=lambda c: f"{{{c}}}")
    if name.endswith(".out"):
        valid = ", ".join(f"{{{s}.out}}" for s in steps) or "none"
        return f"placeholder {text} names no step{hint} (step outputs: {valid})"
    valid_params = ", ".join(params) or "none"
    return (
        f"placeholder {text} resolves to nothing{hint} (params: {valid_params}; "
        f"builtins: {{out}} {{run}} {{name}} {{*}} {{*hydra}} {{STEP.out}})"
    )


def parse(template: str, params: Collection[str], steps: Collection[str]) -> tuple[Token, ...]:
    """Split ``template`` into literal text and placeholders. Raises TemplateError listing every problem."""
    tokens: list[Token] = []
    problems: list[str] = []
    literal: list[str] = []
    quote = ""
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c == "\\" and quote != "'" and i + 1 < n:
            literal.append(template[i : i + 2])
            i += 2
            continue
        if c in "'\"" and (not quote or quote == c):
            quote = "" if quote else c
        elif c in "{}" and template.startswith(c * 2, i):
            literal.append(c)
            i += 2
            continue
        elif c == "{" and not (i and template[i - 1] == "$"):
            match = _NAME.match(template, i + 1)
            if match and template.startswith("}", match.end()):
                text = template[i : match.end() + 1]
                try:
                    ref = _classify(match.group(), text, params, steps)
                except TemplateError as err:
                    problems.append(str(err))
                else:
                    if quote:
                        problems.append(_quoted(text))
                    tokens.extend(["".join(literal), ref])
                    literal = []
                i = match.end() + 1
                continue
        elif c == "[":
            match = _NAME.match(template, i + 1)
            if match and template.startswith("]", match.end()) and match.group() in params:
                text = template[i : match.end() + 1]
                if quote:
                    problems.append(_quoted(text))
                tokens.extend(["".join(literal), Ref("flag", match.group(), text)])
                literal = []
                i = match.end() + 1
                continue
            if match and not quote and _PARAM.fullmatch(match.group()) and _stands_alone(template, i, match.end() + 1):
                problems.append(_unknown_flag(match.group(), template[i : match.end() + 1], params))
        literal.append(c)
        i += 1
    if quote:
        problems.append(f"unterminated {quote} quote")
    tokens.append("".join(literal))
    if problems:
        raise TemplateError("; ".join(dict.fromkeys(problems)))
    return tuple(t for t in tokens if t != "")


def _stands_alone(template: str, start: int, end: int) -> bool:
    """Whether ``template[start:end]`` (``[x]``) is a word of its own, as a flag placeholder is: not glued
    to other text like a shell glob (``log[12]``), an index (``${a[i]}``) or a test (``[[ … ]]``)."""
    if not template.startswith("]", end - 1):
        return False
    before = template[start - 1] if start else " "
    after = template[end] if end < len(template) else " "
    return before in " \t;|&(" and after in " \t;|&)"


def _unknown_flag(name: str, text: str, params: Collection[str]) -> str:
    hint = suggest(name, params, show=lambda c: f"[{c}]")
    valid = ", ".join(params) or "none"
    return (f"flag placeholder {text} names no param{hint} (params: {valid}); for a literal {text} in the "
            f"command, write \\{text}")


def _quoted(text: str) -> str:
    return f"placeholder {text} is inside quotes: remove the quotes, runyard quotes every value itself"
