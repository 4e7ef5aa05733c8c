"""Provenance: the code and the environment a step execution ran with (DESIGN §6).

* :func:`code_state` — git commit, branch, dirty flag and, when dirty, the diff against ``HEAD``
  (staged and unstaged).  ``None`` outside a git repository or without git.  Costs two or three
  ``git`` processes; a worker asks through a :class:`CodeStateCache` (one answer per folder).
* :func:`environment` — Python, platform, host, user, runyard version, GPU models and the installed
  packages (``name==version``, sorted) with the sha256 of that list, so a store saves the frozen list
  once by hash.  Computed once per process.

Everything is JSON-serialisable through ``to_dict()``; nothing here raises because a tool is missing.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CodeState", "CodeStateCache", "EnvInfo", "code_state", "environment", "gpu_names", "installed_packages"]

MAX_DIFF_BYTES = 10 * 1024 * 1024
MAX_UNTRACKED = 200
_GIT_TIMEOUT = 20.0


@dataclass(frozen=True)
class CodeState:
    """The git state of a folder.  ``commit`` is None in a repository without commits yet, ``branch``
    None on a detached HEAD.  ``diff`` is ``git diff HEAD`` when ``dirty`` (tracked changes, staged or
    not), cut at ``MAX_DIFF_BYTES`` (``diff_truncated``).  ``untracked`` lists untracked paths
    (at most ``MAX_UNTRACKED``); they do not make the state dirty."""

    root: str
    commit: str | None
    branch: str | None
    dirty: bool
    diff: str | None = None
    diff_truncated: bool = False
    untracked: tuple[str, ...] = ()

    @property
    def diff_sha256(self) -> str | None:
        return hashlib.sha256(self.diff.encode()).hexdigest() if self.diff is not None else None

    @property
    def short(self) -> str:
        """``a1b2c3d4e5f6`` / ``a1b2c3d4e5f6+dirty`` for displays."""
        return (self.commit or "no-commit")[:12] + ("+dirty" if self.dirty else "")

    def to_dict(self, *, diff: bool = True) -> dict[str, Any]:
        out = _plain(self, ("root", "commit", "branch", "dirty", "diff_sha256", "diff_truncated", "untracked"))
        if diff:
            out["diff"] = self.diff
        return out


def _plain(record: object, names: tuple[str, ...]) -> dict[str, Any]:
    """The named attributes of ``record`` as JSON-able values (tuples as lists), in that order."""
    values = {name: getattr(record, name) for name in names}
    return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # never take index.lock: the user may be committing right now
    env["LC_ALL"] = "C"
    return env


def _git(folder: str, *args: str) -> str | None:
    """stdout of ``git -C folder args`` or None (git missing, not a repository, error, timeout)."""
    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, "-C", folder, *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=_git_env(),
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace")


def code_state(folder: str, *, max_diff_bytes: int = MAX_DIFF_BYTES) -> CodeState | None:
    """The git state of the repository holding ``folder``; None outside one or without git."""
    if not os.path.isdir(folder):
        return None
    root = _git(folder, "rev-parse", "--show-toplevel")
    if root is None or not root.strip():
        return None
    status = _git(folder, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal")
    if status is None:
        return None
    commit: str | None = None
    branch: str | None = None
    dirty = False
    untracked: list[str] = []
    entries = iter(status.split("\0"))
    for entry in entries:
        if entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid ") :]
            commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry[len("# branch.head ") :]
            branch = None if head == "(detached)" else head
        elif entry[:2] in ("1 ", "2 ", "u "):
            dirty = True
            if entry.startswith("2 "):
                next(entries, None)  # a rename's original path
        elif entry.startswith("? ") and len(untracked) < MAX_UNTRACKED:
            untracked.append(entry[2:])
    diff: str | None = None
    truncated = False
    if dirty:
        if commit is not None:
            diff = _git(folder, "diff", "HEAD", "--no-color", "--no-ext-diff")
        else:  # no commit yet: everything staged plus what changed since
            staged = _git(folder, "diff", "--cached", "--no-color", "--no-ext-diff")
            unstaged = _git(folder, "diff", "--no-color", "--no-ext-diff")
            diff = None if staged is None or unstaged is None else staged + unstaged
        if diff is not None and len(diff.encode()) > max_diff_bytes:
            diff = diff.encode()[:max_diff_bytes].decode("utf-8", errors="ignore")
            diff += f"\n# runyard: diff cut at {max_diff_bytes} bytes\n"
            truncated = True
    return CodeState(
        root=root.strip(),
        commit=commit,
        branch=branch,
        dirty=dirty,
        diff=diff,
        diff_truncated=truncated,
        untracked=tuple(untracked),
    )


class CodeStateCache:
    """:func:`code_state` answers per folder, kept for ``ttl`` seconds (None: for the cache's life).

    A worker keeps one for its life, so a sweep of 10,000 steps asks git once per folder.  With no
    ``ttl``, code edited during a long sweep is not seen: pass a ``ttl`` to re-check now and then.
    """

    def __init__(self, ttl: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._states: dict[str, tuple[float, CodeState | None]] = {}

    def get(self, folder: str) -> CodeState | None:
        key = os.path.realpath(folder)
        now = self._clock()
        hit = self._states.get(key)
        if hit is not None and (self.ttl is None or now - hit[0] < self.ttl):
            return hit[1]
        state = code_state(key)
        self._states[key] = (now, state)
        return state

    def clear(self) -> None:
        self._states.clear()


# ------------------------------------------------------------------------------------ environment
@dataclass(frozen=True)
class EnvInfo:
    """Where and with what a worker runs.  ``packages`` is the frozen list (``name==version``, sorted,
    names normalised); ``packages_sha256`` the sha256 of :meth:`packages_text`."""

    python: str
    python_executable: str
    implementation: str
    platform: str
    machine: str
    host: str
    user: str
    runyard_version: str
    gpus: tuple[str, ...] = ()
    packages: tuple[str, ...] = field(default=(), repr=False)
    packages_sha256: str = ""

    def packages_text(self) -> str:
        """The frozen list as a requirements file (what ``packages_sha256`` hashes)."""
        return "".join(p + "\n" for p in self.packages)

    def to_dict(self, *, packages: bool = True) -> dict[str, Any]:
        """JSON-able fields; ``packages=False`` leaves out the list itself (its hash stays)."""
        out = _plain(self, ("python", "python_executable", "implementation", "platform", "machine", "host", "user",
                            "runyard_version", "gpus", "packages_sha256"))
        if packages:
            out["packages"] = list(self.packages)
        return out


_NORMALISE = re.compile(r"[-_.]+")


def installed_packages() -> list[str]:
    """``name==version`` for every distribution the interpreter would import, sorted by name.

    A ``<name>-<version>.dist-info`` folder gives both in its name (what pip and every wheel installer
    write), so only the others have their metadata file read: parsing every distribution's metadata
    was most of the start-up of a one-step run."""
    from importlib import metadata

    seen: dict[str, str] = {}
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:  # a zip file or no folder at all: what importlib finds there, if anything
            if os.path.exists(folder):
                _add_distributions(seen, _distributions([entry]))
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project, dash, version = name[: -len(".dist-info")].partition("-")
                if dash and version and "-" not in version:
                    _add(seen, project, version)
                    continue
            elif not name.endswith(".egg-info"):
                continue
            _add_distributions(seen, [metadata.PathDistribution(Path(folder, name))])
    return [seen[k] for k in sorted(seen)]


def _distributions(path: list[str]) -> list[Any]:
    from importlib import metadata

    try:
        return list(metadata.distributions(path=path))
    except Exception:  # a broken metadata folder must not stop a sweep
        return []


def _add_distributions(seen: dict[str, str], dists: Iterable[Any]) -> None:
    for dist in dists:
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:
            continue
        _add(seen, name, version)


def _add(seen: dict[str, str], name: object, version: object) -> None:
    if not name:
        return
    key = _NORMALISE.sub("-", str(name)).lower()
    seen.setdefault(key, f"{key}=={version}")  # the first on sys.path is the one imported


def gpu_names() -> list[str]:
    """Model names of the GPUs this machine shows, by index (NVML, else ``nvidia-smi``); [] if none."""
    try:
        import pynvml
    except ImportError:
        pass
    else:
        try:
            pynvml.nvmlInit()
            try:
                out = []
                for i in range(int(pynvml.nvmlDeviceGetCount())):
                    name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
                    out.append(name.decode() if isinstance(name, bytes) else str(name))
                return out
            finally:
                pynvml.nvmlShutdown()
        except Exception:
            pass
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): KeyError / OSError
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


_environment: list[EnvInfo] = []


def environment() -> EnvInfo:
    """This process's :class:`EnvInfo`, computed on the first call."""
    if not _environment:
        from runyard.version import __version__

        packages = installed_packages()
        text = "".join(p + "\n" for p in packages)
        _environment.append(
            EnvInfo(
                python=platform.python_version(),
                python_executable=sys.executable,
                implementation=platform.python_implementation(),
                platform=platform.platform(),
                machine=platform.machine(),
                host=socket.gethostname(),
                user=_user(),
                runyard_version=__version__,
                gpus=tuple(gpu_names()),
                packages=tuple(packages),
                packages_sha256=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    return _environment[0]
