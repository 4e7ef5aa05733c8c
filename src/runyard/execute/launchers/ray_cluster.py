"""Connecting to Ray for the Ray launcher (:mod:`.ray_launcher`), and the slots a worker gets from it.

``address``: ``local`` starts a private Ray instance for this process (its own temporary folder, so other
users' ``ray`` commands on the machine never find it, and token authentication with a token of its own,
which Ray would otherwise write to ``~/.ray/auth_token``) and stops it when the block ends; ``auto`` joins
the cluster already running on this machine (``ray start --head`` ...); ``HOST:PORT`` joins that one.  Ray is
imported here only when asked for: without it, :class:`~runyard.errors.MissingDependency` says how to
install it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from runyard.errors import MissingDependency, RunyardError, UsageError
from runyard.execute.slots import SlotPool

__all__ = ["cluster_pool", "connected", "join", "refresh_auth", "require_ray"]

_AUTH = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
ADDRESS_HELP = "valid: 'local' (a private Ray instance), 'auto' (the cluster running here) or HOST:PORT"


def require_ray() -> Any:
    """The ``ray`` module; :class:`MissingDependency` (with the install command) when it is not installed."""
    try:
        import ray
    except ImportError:
        raise MissingDependency("ray", "ray", "the Ray executor") from None
    return ray


def refresh_auth() -> None:
    """Make Ray read ``RAY_AUTH_MODE`` and its token from the environment again: it reads them when it is
    imported, and ``ray.init`` alone does not read them again."""
    import importlib

    raylet = importlib.import_module("ray._raylet")
    config, loader = getattr(raylet, "Config", None), getattr(raylet, "AuthenticationTokenLoader", None)
    if config is None or loader is None:  # a Ray without token authentication
        return
    config.initialize("")
    loader.instance().reset_cache()


def check_address(address: str) -> str:
    """``address`` when it is valid, else :class:`UsageError` saying what is."""
    host, sep, port = address.rpartition(":")
    if address in ("local", "auto") or (sep and host and port.isdigit()):
        return address
    raise UsageError(f"--ray-address {address!r} is not valid ({ADDRESS_HELP})")


def join(address: str) -> None:
    """Connect this process to the running Ray cluster at ``address`` (``auto`` or ``HOST:PORT``)."""
    ray = require_ray()
    try:
        ray.init(address=check_address(address), logging_level=logging.WARNING, log_to_driver=False,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        hint = "start one with `ray start --head`, or use --ray-address local for a private instance"
        raise RunyardError(f"cannot join the Ray cluster at {address!r}: {str(err).strip().splitlines()[0]} "
                           f"({hint})") from None


@contextlib.contextmanager
def connected(address: str = "local", *, gpus: Sequence[int] | None = None, cpus: int | None = None) -> Iterator[None]:
    """This process connected to Ray at ``address`` while the block runs; ``local``: a private instance,
    with ``gpus`` (their number; None: Ray detects them) and ``cpus`` (None: this machine's), stopped after."""
    ray = require_ray()
    check_address(address)
    if ray.is_initialized():  # already connected (a test, a notebook): used as it is, left connected
        yield
        return
    folder = None
    saved = {name: os.environ.get(name) for name in _AUTH}
    if address == "local":
        folder = tempfile.mkdtemp(prefix="runyard-ray-")
        if saved["RAY_AUTH_MODE"] is None:  # a token of its own, not one written to ~/.ray for it
            os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)})
            os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
            refresh_auth()
        options: dict[str, Any] = {"num_gpus": len(gpus)} if gpus is not None else {}
        if cpus is not None:
            options["num_cpus"] = cpus
        ray.init(address="local", _temp_dir=folder, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False, configure_logging=False, **options)
    else:
        join(address)
    try:
        yield
    finally:
        ray.shutdown()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if any(os.environ.get(name) != value for name, value in saved.items()):
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            refresh_auth()


def cluster_pool(per_gpu: int, *, cpus_per_step: float | None = None, jobs: int | None = None) -> SlotPool:
    """The slots of a worker whose steps Ray places: every GPU of the cluster (``per_gpu`` steps each) and
    as many CPU steps as its CPUs hold (``jobs`` when given).  Their indices only count: Ray chooses the
    GPUs of each task."""
    resources = require_ray().cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if jobs is None:
        per_step = cpus_per_step if cpus_per_step else 1.0
        jobs = max(1, int(resources.get("CPU", 1) // per_step))
    return SlotPool(list(range(gpus)), per_gpu=per_gpu, jobs=jobs)
