"""Dispatch cost of the Ray executor against the local one, in the same run.

N no-op steps (``true I``) on 2 CPUs:

* local: ``runyard run --jobs 2`` (a fresh home each time);
* ray: ``runyard run --executor ray --ray-address HOST:PORT`` on a Ray instance of 2 CPUs that this script
  starts (``ray start --head --num-cpus 2``, its own temporary folder and token) and stops by its process
  group (never ``ray stop``, which stops every Ray instance of the user);
* Ray Tune with actor reuse, when ``ray.tune`` is importable: N trials of a function trainable that
  reports one number (not a process per trial: Tune's cheapest trial), on the same instance.

Each runyard figure is taken for N steps and for 1 step; the per-step cost is the difference divided by
N - 1, so start-up (Python, joining the cluster, the store) is left out.  Prints the figures and the
Ray executor's extra milliseconds per step over the local executor.

Usage: .venv/bin/python bench/ray.py [--steps 500] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# run as `python bench/ray.py`, this file's folder comes first on sys.path: `import ray` must not find it
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
BIN = Path(sys.executable).parent
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **AUTH}
ENV.pop("RAY_AUTH_TOKEN_PATH", None)


def write_spec(folder: Path, steps: int) -> Path:
    values = ", ".join(str(i) for i in range(steps))
    spec = folder / "runyard.yaml"
    spec.write_text(f"experiment: bench\nparams: {{i: 0}}\nsteps:\n  noop: true {{i}}\n"
                    f"sweeps:\n  all: {{i: [{values}]}}\n")
    return spec


def timed_run(steps: int, *args: str) -> float:
    """Wall seconds of one ``runyard run`` of ``steps`` no-op steps in a fresh home."""
    with tempfile.TemporaryDirectory(prefix="rybench-") as tmp:
        spec = write_spec(Path(tmp), steps)
        start = time.perf_counter()
        done = subprocess.run([str(BIN / "runyard"), "run", str(spec), "--home", str(Path(tmp) / "home"),
                               "--jobs", "2", *args], env=ENV, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"runyard run {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return wall


def _descendants(pgid: int) -> list[int]:
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
                table[int(name)] = (int(fields[1]), int(fields[2]))
    found = {pid for pid, (_, group) in table.items() if group == pgid}
    while more := {pid for pid, (ppid, _) in table.items() if ppid in found} - found:
        found |= more
    return sorted(found)


@contextlib.contextmanager
def ray_instance(cpus: int) -> Iterator[str]:
    """A Ray head with ``cpus`` CPUs (no GPU), its address; stopped by pid after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="rb")
    proc = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--port", str(port), "--num-cpus", str(cpus),
                             "--num-gpus", "0", "--include-dashboard", "false", "--temp-dir", folder,
                             "--disable-usage-stats"], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if proc.wait() != 0:
            raise SystemExit("ray start failed")
        yield f"127.0.0.1:{port}"
    finally:
        for pid in _descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def tune_seconds(address: str, trials: int) -> float | None:
    """Wall seconds of ``trials`` no-op Tune trials with actor reuse, or None without ``ray.tune``."""
    if importlib.util.find_spec("ray.tune") is None:
        return None
    try:
        from ray import tune
    except ImportError:
        return None
    import ray

    def trainable(config: dict[str, int]) -> dict[str, int]:
        return {"value": config["i"]}

    os.environ.update(AUTH)
    ray.init(address=address, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="rytune-") as storage:
            tuner = tune.Tuner(trainable, param_space={"i": tune.grid_search(list(range(trials)))},
                               tune_config=tune.TuneConfig(reuse_actors=True),
                               run_config=tune.RunConfig(storage_path=storage, verbose=0))
            start = time.perf_counter()
            tuner.fit()
            return time.perf_counter() - start
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args()
    n = options.steps
    print(f"{n} no-op steps on 2 CPUs; per step = (wall of {n} steps - wall of 1 step) / {n - 1}")
    with ray_instance(2) as address:
        local_n, local_1, ray_n, ray_1 = [], [], [], []
        for _ in range(options.repeat):
            local_1.append(timed_run(1))
            local_n.append(timed_run(n))
            ray_1.append(timed_run(1, "--executor", "ray", "--ray-address", address))
            ray_n.append(timed_run(n, "--executor", "ray", "--ray-address", address))
        tune = tune_seconds(address, n)
    local_step = (min(local_n) - min(local_1)) / (n - 1) * 1000
    ray_step = (min(ray_n) - min(ray_1)) / (n - 1) * 1000
    print(f"local executor:  {min(local_n):7.2f} s for {n}, {min(local_1):5.2f} s for 1  → {local_step:6.2f} ms/step")
    print(f"ray executor:    {min(ray_n):7.2f} s for {n}, {min(ray_1):5.2f} s for 1  → {ray_step:6.2f} ms/step")
    print(f"ray over local:  {ray_step - local_step:+.2f} ms/step (target: <= +10), ratio {ray_step / local_step:.2f}×")
    if tune is None:
        print("ray tune: not importable here (pip install 'ray[tune]'): not measured")
    else:
        print(f"ray tune (actor reuse): {tune:7.2f} s for {n} trials → {tune / n * 1000:6.2f} ms/trial "
              f"({tune / n * 1000 - local_step:+.2f} ms over runyard's local executor)")


if __name__ == "__main__":
    main()
