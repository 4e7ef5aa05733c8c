"""Turn a parsed template into the exact shell command for one run: every value shell-quoted.

Whatever a value holds (quotes, ``;``, ``$(…)``, backticks, newlines, ``../``), it reaches the program
as exactly one literal argument (or as part of one word, where the template glues it to text).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runyard.model import Params, ParamValue
from runyard.spec.template import Ref, Token


def value_text(value: ParamValue) -> str:
    """The text a value stands for on a command line (YAML spelling for booleans and null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def quote(value: ParamValue) -> str:
    return shlex.quote(value_text(value))


def flag(name: str, value: ParamValue) -> str:
    """``[p]``: ``--p VALUE``; booleans give ``--p`` when true and nothing when false; null (or a param the run
    does not have) gives nothing."""
    if value is None or value is False:
        return ""
    if value is True:
        return f"--{shlex.quote(name)}"
    return f"--{shlex.quote(name)} {quote(value)}"


@dataclass(frozen=True)
class Context:
    """What a template needs besides params: folders (absolute paths) and names."""

    out: str
    run: str
    name: str
    step_outs: Mapping[str, str]
    rest: Sequence[str]  # params for {*} and {*hydra}, in order


def referenced_params(tokens: Sequence[Token], all_params: Sequence[str]) -> tuple[str, ...] | None:
    """Params a template uses, or None when it depends on all of them ({run}, {name}, {*}, {*hydra})."""
    names: dict[str, None] = {}
    for token in tokens:
        if isinstance(token, Ref):
            if token.kind in ("param", "flag"):
                names[token.name] = None
            elif token.kind in ("run", "name", "all", "hydra"):
                return None
    return tuple(n for n in all_params if n in names)


def rest_params(tokens: Sequence[Token], params: Sequence[str], selectors: Sequence[str]) -> list[str]:
    """Params for {*} / {*hydra}: every param the template does not use otherwise, minus group selectors."""
    used = {t.name for t in tokens if isinstance(t, Ref) and t.kind in ("param", "flag")}
    return [p for p in params if p not in used and p not in selectors]


def render(tokens: Sequence[Token], params: Params, ctx: Context) -> str:
    parts: list[str] = []
    for token in tokens:
        if isinstance(token, str):
            parts.append(token)
        elif token.kind == "param":
            parts.append(quote(params[token.name]))
        elif token.kind == "flag":
            parts.append(flag(token.name, params.get(token.name)))
        elif token.kind == "out":
            parts.append(shlex.quote(ctx.out))
        elif token.kind == "step_out":
            parts.append(shlex.quote(ctx.step_outs[token.name]))
        elif token.kind == "run":
            parts.append(shlex.quote(ctx.run))
        elif token.kind == "name":
            parts.append(shlex.quote(ctx.name))
        elif token.kind == "time":
            parts.append('"$RUNYARD_TIME"')
        elif token.kind == "all":
            parts.append(" ".join(f for f in (flag(k, params[k]) for k in ctx.rest) if f))
        elif token.kind == "hydra":
            parts.append(" ".join(shlex.quote(f"{k}={hydra_value(params[k])}") for k in ctx.rest))
    return "".join(parts)


def hydra_value(value: ParamValue) -> str:
    return "null" if value is None else value_text(value)
