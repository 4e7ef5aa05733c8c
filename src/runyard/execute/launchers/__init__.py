"""Launchers: how a step is started, watched and terminated (see :mod:`.base` for the protocol).

A worker picks a launcher per kind of step by name from :data:`LAUNCHERS`: ``local`` (a process group on
this machine, the default), ``inline`` (a call step in the worker's own process: ``runyard run
--inline``), ``warm`` (call steps in persistent Python processes, one per slot: ``runyard run --warm``),
``ray`` (a Ray task on a Ray cluster: ``--executor ray``) and ``slurm`` (each step a Slurm batch job:
``runyard worker --executor slurm``).  Another launcher registers itself with :func:`register`; it must pass
the contract suite in :mod:`runyard.testing.launcher_contract`.  A launcher's module is imported when it is
first opened.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping

from runyard.errors import UsageError, suggest
from runyard.execute.launchers.base import Capabilities, Clock, Exit, Handle, Launcher, LaunchRequest

__all__ = ["LAUNCHERS", "Capabilities", "Clock", "Exit", "Handle", "LaunchRequest", "Launcher", "open_launcher",
           "register", "routes"]

#: name → ``"module:factory"`` (or the factory), a factory taking the worker's clock
LAUNCHERS: dict[str, str | Callable[[Clock], Launcher]] = {
    "local": "runyard.execute.launchers.local:LocalLauncher",
    "inline": "runyard.execute.launchers.inline:InlineLauncher",
    "ray": "runyard.execute.launchers.ray_launcher:RayLauncher",
    "slurm": "runyard.execute.launchers.slurm:SlurmLauncher",
    "warm": "runyard.execute.launchers.warm:WarmLauncher",
}


def register(name: str, factory: str | Callable[[Clock], Launcher]) -> None:
    """Make launcher ``name`` available: ``factory(clock)`` builds it (or ``"module:attribute"`` naming it)."""
    LAUNCHERS[name] = factory


def open_launcher(name: str, clock: Clock = time.monotonic) -> Launcher:
    """A new launcher ``name`` using ``clock``; :class:`UsageError` for a name nobody registered."""
    factory = _known(name)
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module), attribute)
        assert callable(factory)
    return factory(clock)


def routes(default: str = "local", *, inline: bool = False, warm: bool = False,
           by_kind: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """Which launcher runs a step of each kind: ``default`` for all, ``inline`` for call steps with
    ``inline`` (``runyard run --inline``), ``warm`` for them with ``warm`` (``runyard run --warm``), and
    ``by_kind`` over these."""
    chosen = {"call": "inline"} if inline else {"call": "warm"} if warm else {}
    chosen.update(by_kind or {})
    for name in {default, *chosen.values()}:
        _known(name)
    return lambda kind: chosen.get(kind, default)


def _known(name: str) -> str | Callable[[Clock], Launcher]:
    factory = LAUNCHERS.get(name)
    if factory is None:
        raise UsageError(f"unknown launcher {name!r}{suggest(name, LAUNCHERS)}; known: {', '.join(sorted(LAUNCHERS))}")
    return factory
