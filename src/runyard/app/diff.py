"""``runyard diff A B``: why two runs differ, as plain data (what ``--json`` prints).

Params (each marked when it is the spec's default), metrics side by side (the last value of each
step's metric), code (the git commit of each step, and a unified diff of the uncommitted changes each
recorded), the packages whose versions differ, and the machine (host, Python, GPUs).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from runyard.store.base import ExecRecord, RunRecord, Store

_MACHINE = ("host", "platform", "python", "gpus", "runyard_version")


def _defaults(store: Store, experiment: str) -> Mapping[str, Any]:
    spec = store.experiment(experiment).spec
    params = spec.get("params") if isinstance(spec, Mapping) else None
    return params if isinstance(params, Mapping) else {}


def _executions(store: Store, run: RunRecord) -> dict[str, ExecRecord]:
    found = {x.key: x for x in store.executions(run.experiment, keys=[k for _, k in run.steps])}
    return {step: found[key] for step, key in run.steps if key in found}


def _read(path: object) -> str | None:
    if not isinstance(path, str):
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _packages(text: str | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (text or "").splitlines():
        name, sep, version = line.strip().partition("==")
        if name and sep:
            found[name.lower()] = version
    return found


def diff_runs(store: Store, a: str, b: str, *, experiment: str | None = None) -> dict[str, Any]:
    """What differs between runs ``a`` and ``b`` (id prefixes or names; RunNotFound when unknown or ambiguous)."""
    runs = (store.run(a, experiment), store.run(b, experiment))
    defaults = [_defaults(store, r.experiment) for r in runs]
    names = sorted(set(runs[0].params) | set(runs[1].params))
    params = [{"name": n, "a": runs[0].params.get(n), "b": runs[1].params.get(n),
               "a_default": n in defaults[0] and runs[0].params.get(n) == defaults[0][n],
               "b_default": n in defaults[1] and runs[1].params.get(n) == defaults[1][n],
               "same": runs[0].params.get(n) == runs[1].params.get(n)} for n in names]
    execs = [_executions(store, r) for r in runs]
    summaries = [store.metric_summaries([x.key for x in e.values()]) for e in execs]
    values: list[dict[str, float | None]] = []
    for ex, summary in zip(execs, summaries, strict=True):
        values.append({f"{step}.{name}": s.last
                       for step, x in ex.items() for name, s in summary.get(x.key, {}).items()})
    metrics = [{"name": m, "a": values[0].get(m), "b": values[1].get(m)}
               for m in sorted(set(values[0]) | set(values[1]))]
    steps = sorted(set(execs[0]) | set(execs[1]), key=lambda s: [*execs[0], *execs[1]].index(s))
    code: list[dict[str, Any]] = []
    packages: dict[str, dict[str, str | None]] = {}
    machine: dict[str, dict[str, Any]] = {}
    for step in steps:
        pair = [e.get(step) for e in execs]
        prov = [dict(x.provenance or {}) if x is not None else {} for x in pair]
        states = [p.get("code") or {} for p in prov]
        texts = [_read(s.get("diff_file")) or "" for s in states]
        patch = "".join(difflib.unified_diff(texts[0].splitlines(True), texts[1].splitlines(True),
                                             f"a/{step} (uncommitted changes)", f"b/{step} (uncommitted changes)"))
        code.append({"step": step, "same_execution": pair[0] is not None and pair[1] is not None
                     and pair[0].key == pair[1].key,
                     "a": {k: states[0].get(k) for k in ("commit", "branch", "dirty")},
                     "b": {k: states[1].get(k) for k in ("commit", "branch", "dirty")}, "diff": patch})
        for field in _MACHINE:
            if prov[0].get(field) != prov[1].get(field):
                machine.setdefault(field, {"a": prov[0].get(field), "b": prov[1].get(field)})
        lists = [_packages(_read(p.get("packages_file"))) for p in prov]
        for name in sorted(set(lists[0]) | set(lists[1])):
            if lists[0].get(name) != lists[1].get(name):
                packages[name] = {"a": lists[0].get(name), "b": lists[1].get(name)}
    return {"a": {"id": runs[0].id, "name": runs[0].name, "experiment": runs[0].experiment,
                  "status": str(runs[0].status)},
            "b": {"id": runs[1].id, "name": runs[1].name, "experiment": runs[1].experiment,
                  "status": str(runs[1].status)},
            "params": params, "metrics": metrics, "code": code, "packages": packages, "machine": machine}
