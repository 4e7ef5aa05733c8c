"""The launcher contract suite (runyard.testing.launcher_contract) for the local, inline and warm launchers,
and the registry that opens them by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runyard.errors import UsageError
from runyard.execute.launchers import open_launcher, routes
from runyard.execute.launchers.base import Launcher
from runyard.execute.launchers.inline import InlineLauncher
from runyard.execute.launchers.local import LocalLauncher
from runyard.execute.launchers.warm import WarmLauncher
from runyard.testing.launcher_contract import LauncherContract
from runyard.testing.store_helpers import FakeClock


def opened(name: str, kind: type[Launcher], clock: FakeClock) -> Iterator[Launcher]:
    """The launcher registered as ``name``, of class ``kind``, closed after the test."""
    launcher = open_launcher(name, clock)
    assert isinstance(launcher, kind)
    yield launcher
    launcher.close()


class TestLocalLauncher(LauncherContract):
    @pytest.fixture
    def launcher(self, clock: FakeClock) -> Iterator[Launcher]:
        yield from opened("local", LocalLauncher, clock)


class TestInlineLauncher(LauncherContract):
    @pytest.fixture
    def launcher(self, clock: FakeClock) -> Iterator[Launcher]:
        yield from opened("inline", InlineLauncher, clock)


class TestWarmLauncher(LauncherContract):
    @pytest.fixture
    def launcher(self, clock: FakeClock) -> Iterator[Launcher]:
        yield from opened("warm", WarmLauncher, clock)


def test_routes_choose_inline_for_call_steps_only() -> None:
    route = routes("local", inline=True)
    assert [route(kind) for kind in ("command", "call", "aggregate")] == ["local", "inline", "local"]
    assert routes("local")("call") == "local"
    assert [routes("local", warm=True)(kind) for kind in ("command", "call")] == ["local", "warm"]


def test_unknown_launcher_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown launcher 'locale'; did you mean 'local'"):
        open_launcher("locale")
    with pytest.raises(UsageError, match=r"known: inline, local, ray, slurm, warm$"):
        routes("pbs")
