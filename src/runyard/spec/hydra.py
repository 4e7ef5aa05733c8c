"""Hydra habits: Hydra's command-line sweep syntax refused with the runyard form, an app's config read for
the keys it has, and the overrides ``{*hydra}`` passes.

``{*hydra}`` passes only what a run sets: the params a sweep or the command line assigns and the values its
group choices set (never a selector itself), not the spec's plain defaults, so the app's own config (its
``experiment=…`` presets included) decides everything else. A key the app's config lacks (known when the step
names the config with ``hydra: conf/config.yaml``) goes as ``+key=value``; null goes as ``key=null``, and a
null for a key the config lacks is not passed at all.
"""

from __future__ import annotations

import ast
import math
import os
import re
import shlex
from collections.abc import Collection, Iterator, Mapping, Sequence

from runyard.model import Params, ParamValue
from runyard.spec.template import Ref, Token

_CALL = re.compile(r"\s*([a-z_]+)\s*\((.*)\)\s*\Z", re.S)
SWEEP_FUNCTIONS = ("range", "interval", "choice", "glob", "tag", "sort", "shuffle", "extend_list", "int", "float",
                   "str", "bool", "json_str")
MAX_LISTED = 50  # a range() of more values is not written out in the hint


def override_habit(key: str, raw: str) -> str | None:
    """Why the command-line override ``key=raw`` is Hydra syntax runyard does not read, with the runyard
    form to write instead; None when it is not Hydra syntax."""
    if key.startswith(("+", "~")):
        bare = key.lstrip("+~")
        return (f"{key[: len(key) - len(bare)]!r} is Hydra's prefix for its own config: a runyard param is "
                f"declared in the spec and set as {bare}={raw or 'VALUE'} ({{*hydra}} passes a key the app's config "
                f"lacks as +{bare}=…)")
    match = _CALL.match(raw)
    if not match or match.group(1) not in SWEEP_FUNCTIONS:
        return None
    function, args = match.groups()
    listed = _listed(function, args)
    if listed is not None:
        return f"{function}() is Hydra's sweep syntax; runyard lists the values: {key}={listed}"
    if function == "interval":
        return (f"interval() asks a Hydra sweeper plugin to sample; runyard runs listed values: write "
                f"{key}=V1,V2,V3 (for a large grid, pick runs with --sample N)")
    return f"{function}() is Hydra's override syntax; runyard takes {key}=VALUE or {key}=V1,V2,V3 (an axis)"


def _listed(function: str, args: str) -> str | None:
    """``range(1,4)`` → ``1,2,3``, ``choice(a,b)`` → ``a,b``; None when they cannot be written out."""
    if function == "choice":
        items = [a.strip() for a in args.split(",")]
        return ",".join(items) if all(items) else None
    if function != "range":
        return None
    try:
        numbers = ast.literal_eval(f"({args},)")
    except (ValueError, SyntaxError):
        return None
    if not 1 <= len(numbers) <= 3 or not all(isinstance(n, (int, float)) and not isinstance(n, bool)
                                                for n in numbers):
        return None
    start, stop, step = (0, numbers[0], 1) if len(numbers) == 1 else (*numbers[:2], numbers[2] if len(numbers) > 2
                                                                      else 1)
    if step == 0 or not all(math.isfinite(n) for n in (start, stop, step)):
        return None
    count = math.ceil((stop - start) / step)
    if not 1 <= count <= MAX_LISTED:
        return None
    if all(isinstance(n, int) for n in (start, stop, step)):
        return ",".join(str(start + i * step) for i in range(count))
    return ",".join(repr(round(start + i * step, 12)) for i in range(count))


def passed(params: Params, assigned: Collection[str], rest: Sequence[str],
           spec_params: Mapping[str, ParamValue]) -> list[str]:
    """The params of ``rest`` (those ``{*hydra}`` may pass) a run sets: assigned by a sweep, the command line
    or a chosen group (``assigned``), or with no plain default at all."""
    return [k for k in rest if k in params and (k in assigned or k not in spec_params)]


def used(tokens: Sequence[Token]) -> bool:
    """Whether a template holds ``{*hydra}``."""
    return any(isinstance(t, Ref) and t.kind == "hydra" for t in tokens)


def group_set(groups: Mapping[str, Mapping[str, Mapping[str, ParamValue]]], params: Params) -> set[str]:
    """The params the run's group choices set."""
    return {k for g, choices in groups.items() if g in params and str(params[g]) in choices
            for k in choices[str(params[g])]}


def overrides(params: Params, names: Sequence[str], config_keys: Collection[str] | None) -> str:
    """``k=v`` for each of ``names`` (``+k=v`` when the app's config lacks k), each word shell-quoted."""
    words = []
    for name in names:
        value = params[name]
        missing = config_keys is not None and name not in config_keys
        if value is None and missing:
            continue
        words.append(shlex.quote(f"{'+' if missing else ''}{name}={hydra_value(value)}"))
    return " ".join(words)


def hydra_value(value: ParamValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_keys(path: str) -> tuple[frozenset[str], list[str]]:
    """The dotted keys of a Hydra app's primary config (every node, and the config groups its ``defaults:``
    list chooses, with their options' keys under the group), and the files read. ValueError: unreadable."""
    import yaml

    folder = os.path.dirname(path)
    files = [path]
    data = _read(path, yaml)
    keys: set[str] = set()
    defaults = data.pop("defaults", None) if isinstance(data, dict) else None
    keys.update(_flatten(data, ""))
    for entry in defaults if isinstance(defaults, list) else ():
        if not isinstance(entry, dict):
            continue
        for group, option in entry.items():
            group = str(group).lstrip("+").split("@")[0].removeprefix("override ").strip()
            keys.add(group.replace("/", "."))
            option_file = os.path.join(folder, group, f"{option}.yaml")
            if isinstance(option, str) and os.path.isfile(option_file):
                files.append(option_file)
                keys.update(_flatten(_read(option_file, yaml), group.replace("/", ".") + "."))
    return frozenset(keys), files


def _read(path: str, yaml: object) -> object:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)  # type: ignore[attr-defined]
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror}") from None
    except Exception as err:  # yaml.YAMLError: reported with the file
        raise ValueError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None


def _flatten(data: object, prefix: str) -> Iterator[str]:
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key == "defaults" and not prefix:
            continue
        name = f"{prefix}{key}"
        yield name
        yield from _flatten(value, name + ".")
