"""Runs that ran before a param was added keep their identity.

A run's id and the keys of its steps that depend on all its params (``{run}``, ``{name}``, ``{*}``) hash its
full params, so adding a param to a spec would make every run new: re-run, and named ``default-1a2b3c4d``
beside the ``default`` that already ran. But a run whose new params all have their default value is the
run that already ran, when the program did with no such param what it does with the default. So: when the
store holds a run of the same name whose params are this run's without some params this run has at their
defaults, and the spec last submitted did not give those params other defaults (a changed default re-runs
what it changes), the run keeps that run's id, params and step keys. Pure: the store is read by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from runyard.model import Params
from runyard.spec.keys import canonical_json, run_id


@dataclass(frozen=True)
class Earlier:
    """What the store holds of an experiment: run name → (run id, params), and the params (defaults) of the
    spec last submitted (None: unknown, so any param the stored run lacks counts as new)."""

    runs: Mapping[str, tuple[str, Mapping[str, Any] | str]] = field(default_factory=dict)  # params or their JSON
    defaults: Mapping[str, Any] | None = None

    @property
    def names(self) -> dict[str, str]:
        """Run name → run id."""
        return {name: rid for name, (rid, _) in self.runs.items()}

    @cached_property
    def ids(self) -> frozenset[str]:
        return frozenset(rid for rid, _ in self.runs.values())


def earlier_params(experiment: str, params: Params, rid: str, defaults: Params, name: str,
                   earlier: Earlier | None) -> dict[str, Any] | None:
    """The params of the stored run named ``name`` when it is this run (id ``rid``) from before some params were
    added (see the module docstring); None when it is not, or when the store holds this very run already."""
    if earlier is None or name not in earlier.runs:
        return None
    stored_id, stored = earlier.runs[name]
    if stored_id == rid or rid in earlier.ids:  # this very run is there already
        return None
    if isinstance(stored, str):  # as the store keeps them: read only for the few runs that get here
        import json

        stored = json.loads(stored)
        if not isinstance(stored, dict):
            return None
    added = [k for k in params if k not in stored]
    if not added or any(k not in defaults or not _same(params[k], defaults[k]) for k in added):
        return None
    if earlier.defaults is not None and any(k in earlier.defaults and not _same(earlier.defaults[k], defaults[k])
                                            for k in added):
        return None  # the default changed since the last submit: the runs that have it are other runs
    reduced = {k: v for k, v in params.items() if k in stored}
    return reduced if run_id(experiment, reduced) == stored_id else None


def _same(a: object, b: object) -> bool:
    return canonical_json(a) == canonical_json(b)
