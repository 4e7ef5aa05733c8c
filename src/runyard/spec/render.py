"""Turn a parsed template into the exact shell command for one run: every value shell-quoted.

Whatever a value holds (quotes, ``;``, ``$(…)``, backticks, newlines, ``../``), it reaches the program
as exactly one literal argument (or as part of one word, where the template glues it to text).
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

from runyard.model import Params, ParamValue
from runyard.spec import hydra
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


class Context(NamedTuple):
    """What a template needs besides params: folders (absolute paths) and names."""

    out: str
    run: str
    name: str
    step_outs: Mapping[str, str]
    rest: Sequence[str]  # params for {*}, in order
    hydra: Sequence[str] = ()  # params {*hydra} passes: those the run sets (spec/hydra.py)
    hydra_keys: Collection[str] | None = None  # the keys of the app's config (None: not known)


def referenced_params(tokens: Sequence[Token], all_params: Sequence[str],
                      hydra_passed: Sequence[str] = ()) -> tuple[str, ...] | None:
    """Params a template uses (``{*hydra}``: those it passes, ``hydra_passed``), or None when it depends on all
    of them ({run}, {name}, {*})."""
    names: dict[str, None] = {}
    for token in tokens:
        if isinstance(token, Ref):
            if token.kind in ("param", "flag"):
                names[token.name] = None
            elif token.kind == "hydra":
                names.update(dict.fromkeys(hydra_passed))
            elif token.kind in ("run", "name", "all"):
                return None
    return tuple(n for n in all_params if n in names)


def rest_params(tokens: Sequence[Token], params: Sequence[str], selectors: Sequence[str]) -> list[str]:
    """Params for {*} / {*hydra}: every param the template does not use otherwise, minus group selectors
    (``{*hydra}`` passes those of them the run sets)."""
    used = {t.name for t in tokens if isinstance(t, Ref) and t.kind in ("param", "flag")}
    return [p for p in params if p not in used and p not in selectors]


def render(tokens: Sequence[Token], params: Params, ctx: Context) -> str:
    """The command for one run. A flag, ``{*}`` or ``{*hydra}`` that gives nothing takes one of the spaces
    around it along (``a [off] b`` → ``a b``): it stands between words, never inside quotes."""
    out = ""
    dropped = False  # the last placeholder gave nothing
    for token in tokens:
        text = token if isinstance(token, str) else _value(token, params, ctx)
        if dropped and out.endswith(" ") and text.startswith(" "):
            text = text[1:]
        if isinstance(token, Ref) and not text:
            dropped = True
        elif text:
            dropped = False
        out += text
    return out[:-1] if dropped and out.endswith(" ") else out


def _value(token: Ref, params: Params, ctx: Context) -> str:
    if token.kind == "param":
        return quote(params[token.name])
    if token.kind == "flag":
        return flag(token.name, params.get(token.name))
    if token.kind == "out":
        return shlex.quote(ctx.out)
    if token.kind == "step_out":
        return shlex.quote(ctx.step_outs[token.name])
    if token.kind == "run":
        return shlex.quote(ctx.run)
    if token.kind == "name":
        return shlex.quote(ctx.name)
    if token.kind == "time":
        return '"$RUNYARD_TIME"'
    if token.kind == "all":
        return " ".join(f for f in (flag(k, params[k]) for k in ctx.rest) if f)
    if token.kind == "hydra":
        return hydra.overrides(params, ctx.hydra, ctx.hydra_keys)
    raise ValueError(f"unknown placeholder kind {token.kind!r}")  # pragma: no cover - parse makes only these


hydra_value = hydra.hydra_value
