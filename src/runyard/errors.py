"""Every error runyard raises on purpose derives from :class:`RunyardError`.

Tree::

    RunyardError                 root; the CLI prints ``str(err)`` and exits with ``err.exit_code``
    ├── UsageError               bad command-line input (exit 2)
    ├── SpecError                a spec with one or more problems (exit 2), each with file:line or key path
    ├── StoreError               the store cannot be opened, migrated or reached (exit 2 when opening)
    │   ├── StoreUnavailable     a transient connection failure; callers may retry
    │   ├── StoreOutage          a worker gave up: the store stayed unreachable past --store-timeout (exit 75)
    │   └── LeaseLost            a worker wrote for an execution it no longer holds (another took it over)
    ├── RunNotFound              no run / experiment / execution matches what the user named (exit 2)
    ├── LaunchError              a step could not be started (missing workdir, bad interpreter ...)
    ├── StepFailed               some step of a run started from Python failed (exit 1); names each log
    ├── DiskFull                 a file under home (or the store's file) could not be written: no space,
    │                            quota exceeded or an I/O error (exit 1); names the path
    ├── ResultError              a Python step's result cannot be saved or loaded (exit 2 when loading)
    ├── MetricSourceError        a metric's file or parser gave no points (the step is not failed by it)
    └── MissingDependency        an optional package is needed: the message says what to install
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass


class RunyardError(Exception):
    """Root of every error runyard raises on purpose."""

    exit_code = 1


class UsageError(RunyardError):
    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a spec: where it is and what is wrong (what is valid included)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class SpecError(RunyardError):
    """A spec with problems; all problems found are collected and reported together."""

    exit_code = 2

    def __init__(self, problems: Iterable[Problem] | str, *, source: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(source, problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.problems) == 1:
            return f"spec error: {self.problems[0]}"
        lines = [f"spec error: {len(self.problems)} problems"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class StoreError(RunyardError):
    exit_code = 2


class StoreUnavailable(StoreError):
    """The store could not be reached right now (connection refused, server restarting ...)."""


class StoreOutage(StoreError):
    """A worker stopped because the store stayed unreachable longer than its ``--store-timeout``: it launched
    nothing more, waited for its running steps and kept their results in their ``meta.json``.
    Exit code 75 (EX_TEMPFAIL: try again later)."""

    exit_code = 75


class LeaseLost(StoreError):
    """A worker wrote for a step execution it no longer holds: its lease expired and the execution was
    taken back (and maybe claimed by another worker). Nothing was written."""


class RunNotFound(RunyardError):
    exit_code = 2


class LaunchError(RunyardError):
    pass


class DiskFull(RunyardError):
    """Writing ``path`` failed for lack of space (``ENOSPC``), quota (``EDQUOT``) or an I/O error (``EIO``).

    Not a :class:`StoreUnavailable`: waiting does not help, so nothing retries it; a worker records the
    step failed with this message, launches nothing more and exits non-zero."""

    exit_code = 1
    ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO)

    def __init__(self, path: str, code: int = errno.ENOSPC) -> None:
        self.path = path
        self.errno = code
        what = {errno.EDQUOT: "disk quota exceeded", errno.EIO: "I/O error"}.get(code, "disk full")
        super().__init__(f"{what} writing {path}")

    @classmethod
    def of(cls, err: OSError, path: str | os.PathLike[str] | None = None) -> DiskFull | None:
        """The :class:`DiskFull` for ``err`` when it is one of :attr:`ERRNOS`, else None."""
        if err.errno not in cls.ERRNOS:
            return None
        where = path if path is not None else err.filename
        return cls(os.fspath(where) if where is not None else "?", err.errno)


class StepFailed(RunyardError):
    exit_code = 1

    def __init__(self, failed: list[str]) -> None:
        self.failed = list(failed)
        lines = [f"{len(failed)} step execution{'s' if len(failed) != 1 else ''} failed:"]
        super().__init__("\n  ".join([*lines, *failed]))


class ResultError(RunyardError):
    exit_code = 2


class MetricSourceError(RunyardError):
    """A metric's file or parser that could not give its points (the message says why)."""


class MissingDependency(RunyardError):
    exit_code = 2

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package {package!r}: pip install 'runyard[{extra}]'"
        )


def suggest(word: str, valid: Iterable[str], *, most: int = 1, cutoff: float = 0.6,
            show: Callable[[str], str] = repr) -> str:
    """``"; did you mean 'x'?"`` naming the closest of ``valid`` (up to ``most`` of them, joined by "or"),
    or ``""`` when none is close: the one did-you-mean of every message."""
    import difflib

    close = difflib.get_close_matches(word, list(valid), n=most, cutoff=cutoff)
    return f"; did you mean {' or '.join(show(c) for c in close)}?" if close else ""
