"""Processes that die with their worker (DESIGN §5): what a step or parser process is started with.

Two ways, both used by the local launcher (:mod:`runyard.execute.launchers.local`), so a step never
outlives both its worker and the guardian, even when both are killed with SIGKILL:

* per child: ``PR_SET_PDEATHSIG``, set by exec'ing through util-linux ``setpriv --pdeathsig`` when it
  is installed, else by ``prctl`` in a ``preexec_fn``.  With GNU coreutils ``timeout`` installed the
  group leader is ``timeout -s KILL 0 bash -c COMMAND`` (no time limit: ``0``) and the death signal
  is ``SIGALRM``, which ``timeout`` takes as its time being up: it SIGKILLs its whole process group,
  so a compound command's other processes and the step's grandchildren (``python x.py &``) die too.
  Without ``timeout`` the death signal is ``SIGKILL`` to ``bash`` (or the program bash execs for a
  simple command), and only the guardian or :func:`~runyard.execute.processes.kill_orphan_group`
  reach the rest of the group.  A side effect of ``timeout``: a SIGTERM to the group reaches
  ``timeout`` too, which passes it on to the group once more.  The signal fires when the *thread*
  that launched the child exits: launch from a long-lived thread.
* :class:`~runyard.execute.guardian.Guardian`: one small process per worker that is told each group
  and kills every group still registered when the worker's pipe closes (the worker died, however).

Cost per launch, measured here (``launch()`` call / launch-to-exit of ``true``): no death signal
0.17 / 1.16 ms; ``setpriv`` 0.18 / 1.94 ms (vfork path kept, one more exec in the child); guardian
0.19 / 1.18 ms; ``preexec_fn`` + ``prctl`` 1.8 ms, and 21-24 ms for a worker with 500 MB resident
(``preexec_fn`` forces CPython's fork path, whose cost grows with the parent's memory).  The default
now, ``setpriv`` + ``timeout`` + guardian: launch-to-exit 3.9-6.8 ms against 1.5-1.9 ms for the
guardian alone, on a loaded 2-core machine (two more ``exec`` per step).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["OWN_GROUP", "deathsig_method", "dying_with_parent", "tool"]

_LINUX = sys.platform.startswith("linux")
_PR_SET_PDEATHSIG = 1
#: ``subprocess.Popen`` keywords that put a child in a process group of its own (its pgid is its pid)
OWN_GROUP: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
_tools: dict[str, str | None] = {}


def tool(name: str) -> str | None:
    """The path of program ``name`` (looked up once; ``setpriv`` and ``timeout`` only when they can do what
    is needed here), or None."""
    if name not in _tools:
        path = shutil.which(name)
        # setpriv: --pdeathsig came with util-linux 2.33; timeout: GNU's kills its process group
        needed = {"setpriv": ("--help", "--pdeathsig"), "timeout": ("--version", "GNU coreutils")}.get(name)
        if needed is not None and path is not None and _LINUX:
            try:
                out = subprocess.run([path, needed[0]], capture_output=True, text=True, timeout=5, check=False)
                path = path if needed[1] in out.stdout else None
            except (OSError, subprocess.SubprocessError):
                path = None
        _tools[name] = path
    return _tools[name]


def deathsig_method() -> str:
    """How :func:`dying_with_parent` gives a child its death signal here: ``setpriv``, ``prctl`` or ``none``."""
    if not _LINUX:
        return "none"
    return "setpriv" if tool("setpriv") else "prctl"


def _group_killer() -> list[str]:
    """The argv prefix that makes the group leader kill its whole group on ``SIGALRM`` (its death
    signal), or ``[]`` without GNU ``timeout``."""
    timeout = tool("timeout") if _LINUX else None
    return [timeout, "-s", "KILL", "0"] if timeout else []


def dying_with_parent(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """``argv`` made to die with this process's launching thread, its whole process group with it (when
    GNU ``timeout`` leads the group), and the ``preexec_fn`` that needs where ``setpriv`` is missing. The
    child must be started in a process group of its own (:data:`OWN_GROUP`)."""
    if not _LINUX:
        return argv, None
    killer = _group_killer()
    argv = [*killer, *argv]
    setpriv = tool("setpriv")
    if setpriv:
        return [setpriv, "--pdeathsig", "ALRM" if killer else "KILL", "--", *argv], None
    return argv, _prctl_preexec(signal.SIGALRM if killer else signal.SIGKILL)


_prctl: list[Any] = []


def _prctl_preexec(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` setting PDEATHSIG (libc is loaded here, in the parent, not in every child)."""
    if not _prctl:
        import ctypes

        try:
            _prctl.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError):
            _prctl.append(None)
    prctl, parent = _prctl[0], os.getpid()
    if prctl is None:
        return None

    def preexec() -> None:  # in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the worker died before prctl took effect
            os._exit(137)

    return preexec
