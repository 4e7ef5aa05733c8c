"""The dashboard under test: a home with real finished runs (made by a real ``runyard run``, once for the
whole test run) served by a real ``runyard ui`` subprocess per test process, stopped by its pid.

``study`` (8 runs: lr × seed × note, one note being ``<img src=x onerror=alert(1)>``; one ``prep`` step
shared by all) logs ``loss`` per epoch and writes ``out/model.txt``; a symbolic link out of the home is
added to one run's ``out/``.
``quiet`` (one run) is the experiment the queue's controls pause and resume. ``live`` runs while a test
watches it: its step logs, then waits for a ``go`` file.

Browser tests use pytest-playwright's ``page`` with Debian's chromium (``executable_path``, no sandbox;
no browser is downloaded). Set RUNYARD_UI_SCREENSHOTS=docs/img to write docs/ui.md's screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

RUNYARD = str(Path(sys.executable).with_name("runyard"))
XSS = "<img src=x onerror=alert(1)>"

TRAIN_PY = '''
import argparse, os, runyard
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float); p.add_argument("--seed", type=int); p.add_argument("--note")
p.add_argument("--out"); p.add_argument("--data")
a = p.parse_args()
loss = 1.0
for epoch in range(60):
    loss = loss * (1 - a.lr) + 0.001 * a.seed
    runyard.log(loss=loss, step=epoch)
    print(f"epoch {epoch} loss {loss:.4f} note {a.note}", flush=True)
os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, "model.txt"), "w").write(f"lr={a.lr}\\n")
print(f"acc = {1 - loss:.4f}")
'''

STUDY_YAML = '''
experiment: study
params: {lr: 0.1, seed: 1, note: plain}
steps:
  prep: python -c "import os, sys; os.makedirs(sys.argv[1], exist_ok=True)" {out}
  train: python train.py --lr {lr} --seed {seed} --note {note} --data {prep.out} --out {out}
metrics:
  loss: {step: train, mode: min}
  acc: {step: train, regex: 'acc = ([0-9.]+)', mode: max}
sweeps:
  grid: {lr: [0.1, 0.02], seed: [1, 2], note: [plain, "<img src=x onerror=alert(1)>"]}
'''

LIVE_PY = '''
import os, sys, time, runyard
folder = sys.argv[1]
print("epoch 1 of the live run", flush=True)
runyard.log(loss=0.5, step=1)
open(os.path.join(folder, "started"), "w").close()
while not os.path.exists(os.path.join(folder, "go")):
    time.sleep(0.05)
runyard.log(loss=0.25, step=2)
print("epoch 2 finished", flush=True)
'''

QUIET_YAML = '''
experiment: quiet
steps:
  noop: python -c "print('nothing to do')"
'''

LIVE_YAML = '''
experiment: live
steps:
  watch: python live.py .
'''


@dataclass
class Server:
    url: str  # ends with "/"
    port: int
    proc: subprocess.Popen[str]
    token: str | None = None


@dataclass
class Yard:
    folder: Path
    home: Path
    server: Server

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.home / 'runyard.db'}"


def start_ui(home: Path, *args: str) -> Server:
    """``runyard ui --port 0 ...`` as a subprocess; returns once it printed the URL to open."""
    proc = subprocess.Popen([RUNYARD, "ui", "--home", str(home), "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server announced itself (or died)
    if "open http" not in line:
        proc.kill()
        raise AssertionError(f"runyard ui did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    url = line.split("open ", 1)[1].split()[0]
    token = url.split("?token=", 1)[1] if "?token=" in url else None
    base = url.split("?", 1)[0]
    port = int(base.rsplit(":", 1)[1].strip("/"))
    return Server(f"http://127.0.0.1:{port}/", port, proc, token)


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Yard]:
    pytest.importorskip("starlette", reason="runyard ui needs the ui extra: pip install 'runyard[ui]'")
    folder = made_once(tmp_path_factory)
    server = start_ui(folder / ".runyard")
    try:
        yield Yard(folder, folder / ".runyard", server)
    finally:
        stop(server)


def made_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the runs, made by the first pytest-xdist worker that needs it (under a lock in the
    folder the workers share) and read by the others, each serving it with its own ``runyard ui``."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "ui-runs"
    with open(shared / "ui-runs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (folder / "made").exists():
            make_runs(folder)
            (folder / "made").touch()
    return folder


def make_runs(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN_PY)
    (folder / "runyard.yaml").write_text(textwrap.dedent(STUDY_YAML))
    (folder / "live.py").write_text(LIVE_PY)
    (folder / "live.yaml").write_text(textwrap.dedent(LIVE_YAML))
    home = folder / ".runyard"
    env = {**os.environ, "RUNYARD_HOME": str(home)}
    (folder / "quiet.yaml").write_text(textwrap.dedent(QUIET_YAML))
    for spec in ("runyard.yaml", "quiet.yaml"):
        done = subprocess.run([RUNYARD, "run", spec], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
    model = next(home.glob("study/steps/train/*/out/model.txt"))
    (model.parent / "escape").symlink_to("/etc/passwd")


@pytest.fixture(scope="session")
def exposed(yard: Yard) -> Iterator[Server]:
    """The same home served read-only on every interface (so with a generated token)."""
    server = start_ui(yard.home, "--host", "0.0.0.0", "--readonly")
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """pytest-playwright launches Debian's chromium (never a downloaded browser)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/apt-packages lists it)")
    return {"executable_path": executable, "headless": True,
            "args": ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]}


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1100, "height": 720}}


def screenshot(page: Any, name: str) -> None:
    """Write docs/ui.md's screenshot ``name`` when RUNYARD_UI_SCREENSHOTS names a folder."""
    folder = os.environ.get("RUNYARD_UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"ui-{name}.png"))
