"""The in-run API: what a step's own program calls to report metrics and learn where it runs.

``runyard.log(step=None, **metrics)`` appends ONE line of JSON to the file named by
``$RUNYARD_METRICS`` (set by the worker for every step) with ONE ``os.write`` to a file descriptor
opened with ``O_APPEND``: no buffer in the program, so a line is in the kernel as soon as ``log``
returns and survives an exception, ``os._exit``, a segfault and ``kill -9`` of the program (only a
crash of the machine before the page cache reaches the disk can lose it). Measured here: ~2 µs per
call with two metrics (the ``write`` itself ~0.6 µs), against ~3 µs for ``json.dumps`` + ``write``
and ~0.3 µs for a buffered write that a ``kill -9`` would lose. The worker reads the file while the
step runs and after it exits (``runyard.execute.ingest``).

The file format, for programs in any language (one JSON object per line, UTF-8)::

    {"time": 1712345678.25, "step": 3, "loss": 0.1, "acc": 0.9}

``time`` (epoch seconds) and ``step`` (a whole number) are optional and reserved; every other key
whose value is a number is one point of the metric of that name (``null`` is NaN, ``1e999`` is
infinity; integers from -2**63 to 2**63-1); other values are ignored. Each line is read on its own:
a line the worker cannot read or store is skipped, the others are kept, and the step's record gets
one warning (how many lines, the first one's ``file:line`` and why; ``runyard show``). ``log``
never writes such a line: an integer beyond 2**63 is written as a float, a step beyond it is left
out with a warning.

Outside a runyard step (no ``$RUNYARD_METRICS``) ``log`` records nothing and warns once on stderr;
set ``RUNYARD_METRICS=some/file.jsonl`` to record to a file of your choice. Nothing here raises on
bad input: a value that is not a number is skipped with a one-time warning.

Imports only what Python has loaded at start-up: ``import runyard`` stays light.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["log", "out_dir", "params", "run_id", "should_prune"]

TYPE_CHECKING = False  # typing costs ~6 ms to import; mypy treats this name as true
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

_state: dict[str, Any] = {"fd": None, "path": None}
_names: dict[str, str] = {}  # metric name → its JSON text with the separators around it
_warned: set[str] = set()
_INT64 = 2**63  # integers the store holds; a larger one is written as a float


def _warn(what: str, message: str) -> None:
    if what in _warned:
        return
    _warned.add(what)
    try:
        sys.stderr.write(f"runyard: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # a closed or missing stderr: stay silent
        pass


def _open() -> int | None:
    path = os.environ.get("RUNYARD_METRICS")
    if not path:
        _warn("outside", "runyard.log: not inside a runyard step ($RUNYARD_METRICS is not set), so metrics are "
                         "not recorded; set RUNYARD_METRICS=FILE.jsonl to record them to a file")
        return None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        _warn("open", f"runyard.log: cannot open {path} ({err.strerror}); metrics are not recorded")
        return None
    _state.update(fd=fd, path=path)
    return fd


def reset() -> None:
    """Forget the open file and the warnings given: the next call reads the environment again (a new step
    run in this process, a test)."""
    fd = _state["fd"]
    _state.update(fd=None, path=None)
    _warned.clear()
    if fd is not None:
        try:  # noqa: SIM105 - contextlib is one import more
            os.close(fd)
        except OSError:
            pass


def _number(value: object) -> str | None:
    """``value`` as JSON number text, or None when it is not a number."""
    if value.__class__ is float:
        number: float = value
    elif value.__class__ is int and -_INT64 <= value < _INT64:
        return str(value)
    else:
        try:  # numpy scalars, one-element tensors, bool, Decimal ...
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return None
    if number != number:
        return "null"
    if number in (float("inf"), float("-inf")):
        return "1e999" if number > 0 else "-1e999"
    return repr(number)


def _name(name: str) -> str | None:
    """``, "name": `` with the name escaped as JSON (cached: metric names repeat); None for a name
    that is not text (lone surrogates cannot be stored)."""
    import json

    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        _warn(f"name:{name!r}", f"runyard.log: the metric name {name!r} is not valid text; skipped")
        return None
    text = _names[name] = f", {json.dumps(name)}: "
    return text


def log(step: int | None = None, **metrics: object) -> None:
    """Record metric values, e.g. ``runyard.log(loss=0.31, acc=0.9, step=epoch)``.

    Appends one JSON line to ``$RUNYARD_METRICS`` at once (one system call, no buffer: nothing is
    lost when the program crashes or is killed). ``step`` is the training step or epoch (a whole
    number, optional). Values must be numbers (float, int, numpy scalars, one-element tensors);
    anything else is skipped with a warning. Never raises.
    """
    fd = _state["fd"]
    if fd is None:
        fd = _open()
        if fd is None:
            return
    line = f'{{"time": {time.time()!r}'
    if "time" in metrics:
        del metrics["time"]
        _warn("reserved", "runyard.log: 'time' is reserved in the metrics file (the time is recorded for you); "
                          "a metric named 'time' is skipped")
    if step is not None:
        if step.__class__ is int and -_INT64 <= step < _INT64:
            line += f', "step": {step}'
        else:
            try:
                whole = int(step)
                if not -_INT64 <= whole < _INT64:
                    raise OverflowError(whole)
                line += f', "step": {whole}'
            except (TypeError, ValueError, OverflowError):
                _warn("step", f"runyard.log: step={step!r} is not a whole number from -2**63 to 2**63-1; logged "
                              "without a step")
    for name, value in metrics.items():
        key = _names.get(name) or _name(name)
        if key is None:
            continue
        if value.__class__ is float and value - value == 0.0:  # finite float: the common case
            line += key + repr(value)
            continue
        text = _number(value)
        if text is None:
            _warn(f"value:{name}", f"runyard.log: {name}={value!r} is not a number; skipped")
        else:
            line += key + text
    try:
        os.write(fd, (line + "}\n").encode("utf-8"))
    except OSError as err:
        _warn("write", f"runyard.log: cannot write {_state['path']} ({err.strerror}); metrics may be missing")


def _meta() -> dict[str, Any]:
    folder = os.environ.get("RUNYARD_FOLDER")
    if not folder:
        return {}
    import json

    from runyard.layout import ExecutionPaths

    try:
        with open(ExecutionPaths(folder).meta, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def params() -> dict[str, Any]:
    """The params this step execution was rendered with (from ``$RUNYARD_FOLDER/meta.json``).

    These are exactly the params the step's command references (the ones in its key; all of the
    run's params when it uses ``{*}``, ``{*hydra}`` or ``{run}``): an execution shared by several
    runs only has what they have in common. Outside a runyard step: ``{}``. A new dict each call.
    """
    value = _meta().get("params")
    return dict(value) if isinstance(value, dict) else {}


def out_dir() -> Path:
    """The step's output folder, ``{out}`` in the spec (``$RUNYARD_OUT``; it exists). Outside a
    runyard step: the current folder."""
    from pathlib import Path

    return Path(os.environ.get("RUNYARD_OUT") or os.getcwd())


def run_id() -> str | None:
    """The key of this step execution (``$RUNYARD_KEY``): 64 hex characters, the content hash of
    the rendered step (DESIGN §3). The same for every attempt of the step and for every run that
    shares it; ``runyard show`` / ``logs`` accept its first 12 characters. None outside runyard."""
    return os.environ.get("RUNYARD_KEY") or None


def should_prune() -> bool:
    """True once the tuner has pruned the trial this step runs for (``$RUNYARD_PRUNE`` exists): a
    training loop can stop cleanly, its metrics so far are kept and the trial is recorded ``pruned``.
    The step is also sent SIGTERM (then SIGKILL after the grace period), so a loop that never asks is
    stopped all the same. False outside a tuned step. One ``stat`` per call."""
    path = os.environ.get("RUNYARD_PRUNE")
    return bool(path) and os.path.exists(path)  # type: ignore[arg-type]
