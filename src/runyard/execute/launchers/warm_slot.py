"""The process of a warm slot (:mod:`runyard.execute.launchers.warm`): it runs call step after call step.

``python -m runyard.execute.launchers.warm_slot IN OUT``: reads one call per line from descriptor ``IN``
(JSON: the step's ``command`` as recorded, ``cwd``, ``log``, ``env``, ``spec``: the spec's folder) and
answers each on descriptor ``OUT`` with one line (JSON): ``code``, the exit code the call would have had
as ``python -m runyard.call`` (:func:`runyard.execute.pycall.call` runs it), and ``files``: the source files
of the modules it imported first (the step's module and the user's other modules, not the standard library,
installed packages or runyard), which the launcher watches for changes.

During a call, descriptors 1 and 2 are the step's log (appended), so what it prints, through Python or
straight to the descriptors, goes there; between calls they go to ``/dev/null``.  The process ends at the
end of ``IN`` (the launcher closed it) or when it is killed.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from typing import Any

from runyard.execute import pycall
from runyard.execute.launchers.inline import step_environment

__all__ = ["ModuleWatch", "main", "run_call"]


class ModuleWatch:
    """The source files of the modules imported since the last look, the user's own only."""

    def __init__(self) -> None:
        import sysconfig

        paths = sysconfig.get_paths()
        runyard_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(pycall.__file__))))
        skipped = {paths.get(name, "") for name in ("stdlib", "platstdlib", "purelib", "platlib")}
        self._skipped = tuple(os.path.join(os.path.abspath(p), "") for p in (*skipped, runyard_root) if p)
        self._seen = set(sys.modules)
        self._count = len(sys.modules)

    def new_files(self) -> list[str]:
        if len(sys.modules) == self._count:  # nothing imported since the last look (the usual case)
            return []
        self._count = len(sys.modules)
        out = []
        for name, module in list(sys.modules.items()):
            if name in self._seen:
                continue
            self._seen.add(name)
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and path.endswith(".py"):
                path = os.path.abspath(path)
                if not path.startswith(self._skipped):
                    out.append(path)
        return out


def _note(text: str) -> None:
    print(pycall.NOTE + text, file=sys.stderr, flush=True)


def run_call(job: Mapping[str, Any], devnull: int) -> int:
    """Run one call step with its log on descriptors 1 and 2; its exit code."""
    log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    try:
        argv = shlex.split(job["command"])
        if argv[:3] != ["python", "-m", "runyard.call"]:
            _note(f"not a call step command: {job['command']}")
            return 2
        request = pycall.parse_args(argv[3:])
        cwd = job["cwd"]
        folders = [f for f in (job.get("spec"), cwd) if f]
        with step_environment(job["env"], cwd, folders):
            return pycall.call(request, folders=folders, note=_note)
    except SystemExit as stop:  # sys.exit() in the step, or arguments runyard.call refuses
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)


def main(argv: list[str]) -> None:
    calls, answers = int(argv[0]), int(argv[1])
    os.set_inheritable(calls, False)  # the step's own child processes do not hold them
    os.set_inheritable(answers, False)
    devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    watch = ModuleWatch()
    with os.fdopen(calls, "rb") as lines:
        for line in lines:
            code = run_call(json.loads(line), devnull)
            answer = json.dumps({"code": code, "files": watch.new_files()}) + "\n"
            os.write(answers, answer.encode())


if __name__ == "__main__":
    main(sys.argv[1:])
