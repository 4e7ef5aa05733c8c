"""Run a metric ``parser:`` (a user's ``module:function``) in a process of its own, with a timeout.

A parser is user code: it may hang, loop, crash the interpreter or print. It runs as
``python -m runyard.execute.parser_call MODULE:FUNCTION FOLDER SPEC_FOLDER`` in its own process
group; its result comes back as one JSON document on the process's standard output (what the parser
itself prints goes to standard error). The worker waits at most the metric's ``timeout`` (default
:data:`DEFAULT_TIMEOUT`) and stays responsive meanwhile: ``abandon()`` is asked between short waits
(a worker told to stop kills the parser at once). A parser that hangs, raises or dies makes that
metric's extraction fail with the reason; the step's status and its other metrics are kept.

Light at import (the standard library and ``runyard.errors``): the parser's process starts fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import MetricSourceError

if TYPE_CHECKING:
    from runyard.model import Metric

DEFAULT_TIMEOUT = 60.0
POLL = 0.1  # seconds between two looks at abandon() while a parser runs
#: A parser started once the worker is already terminating runs at most this long (the default grace period
#: of a terminated step): the parser running when termination began is stopped, the next ones still run.
STOPPING_TIMEOUT = 10.0


def run_parser(target: str, folder: str, spec_folder: str | None, *, timeout: float | None = None,
               abandon: Callable[[], bool] = lambda: False) -> list[Metric]:
    """The points ``target`` returns for the execution ``folder``; raises MetricSourceError.

    ``abandon()`` true while it runs: the worker is terminating, the parser is stopped. A parser started
    when ``abandon()`` is already true runs anyway, for at most :data:`STOPPING_TIMEOUT` seconds."""
    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    late = abandon()  # started during termination: bounded by time, not stopped at once
    if late:
        limit = min(limit, STOPPING_TIMEOUT)
    from runyard.execute.launch import OWN_GROUP, dying_with_parent

    # dies with the worker, even a worker killed with SIGKILL (a hung parser would otherwise run on for ever)
    argv, preexec = dying_with_parent([sys.executable, "-m", "runyard.execute.parser_call", target, folder,
                                       spec_folder or ""])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=folder, preexec_fn=preexec, **OWN_GROUP)
    except OSError as err:
        raise MetricSourceError(f"parser {target} could not be started: {err}") from None
    deadline = time.monotonic() + limit
    try:
        while True:
            try:
                out, err_text = proc.communicate(timeout=max(0.0, min(POLL, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if not late and abandon():
                    raise MetricSourceError(f"parser {target} was stopped: the worker is stopping") from None
                if time.monotonic() >= deadline:
                    why = ("the worker is stopping" if late
                           else "set `timeout:` on the metric to allow longer")
                    raise MetricSourceError(f"parser {target} timed out after {limit:g} s ({why})") from None
    finally:
        if proc.returncode is None:
            _kill(proc)
    return _points(target, proc.returncode, out, err_text)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _points(target: str, code: int | None, out: bytes, err_text: bytes) -> list[Metric]:
    from runyard.model import Metric

    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        tail = err_text.decode("utf-8", "replace").strip().splitlines()[-3:]
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        raise MetricSourceError(f"parser {target} {how} without a result" + (f": {' / '.join(tail)}" if tail else ""))
    if "error" in answer:
        raise MetricSourceError(str(answer["error"]))
    return [Metric(str(name), float(value), step) for name, value, step in answer.get("points", [])]


# --- in the parser's process ------------------------------------------------------------------------
def call(target: str, folder: str, spec_folder: str | None) -> list[tuple[str, float, int | None]]:
    """Call ``module:function`` with the execution folder (a Path; ``out/`` holds what the step
    wrote, ``log`` its output). It returns ``{name: number or list of numbers}``: the points as
    ``(name, value, step)``. Raises MetricSourceError."""
    func = import_parser(target, spec_folder)
    try:
        result = func(Path(folder))
    except Exception as err:  # user code: report it
        raise MetricSourceError(f"parser {target} raised {type(err).__name__}: {err}") from None
    if not isinstance(result, Mapping):
        raise MetricSourceError(f"parser {target} returned {short(result)}, not a dict of metric names to numbers")
    points: list[tuple[str, float, int | None]] = []
    for name, value in result.items():
        found = series_of(str(name), value)
        if found is None:
            raise MetricSourceError(f"parser {target} returned {name}={short(value)}: not a number or a list of "
                                    "numbers")
        points += found
    return points


def import_parser(target: str, spec_folder: str | None) -> Any:
    import importlib

    module_name, _, function = target.partition(":")
    saved = list(sys.path)
    if spec_folder:
        sys.path.insert(0, spec_folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise MetricSourceError(f"cannot import parser module {module_name!r}: {type(err).__name__}: {err}") from None
    finally:
        sys.path[:] = saved
    func = getattr(module, function, None)
    if not callable(func):
        raise MetricSourceError(f"parser module {module_name} has no function {function!r}")
    return func


def series_of(name: str, value: Any) -> list[tuple[str, float, int | None]] | None:
    """A number → one point; a list of numbers → one point per element (step = index); else None."""
    number = number_of(value)
    if number is not None:
        return [(name, number, None)]
    if isinstance(value, (list, tuple)):
        numbers = [number_of(v) for v in value]
        if all(n is not None for n in numbers):
            return [(name, n, i) for i, n in enumerate(numbers) if n is not None]
    return None


def number_of(value: Any) -> float | None:
    """A number (int, float, numeric text, numpy scalar) as a float; None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    try:  # numpy scalars
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def main(argv: list[str]) -> int:
    """Call the parser, print ``{"points": [[name, value, step], ...]}`` or ``{"error": ...}``."""
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # what the parser prints goes to standard error, never into the answer
    target, folder, spec_folder = argv
    try:
        answer: dict[str, object] = {"points": call(target, folder, spec_folder or None)}
    except MetricSourceError as err:
        answer = {"error": str(err)}
    except BaseException as err:  # SystemExit, KeyboardInterrupt from user code: still one answer
        answer = {"error": f"parser {target} raised {type(err).__name__}: {err}"}
    with os.fdopen(answer_fd, "w", encoding="utf-8") as handle:
        json.dump(answer, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
