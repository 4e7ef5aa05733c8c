"""Where the home is (DESIGN §1): --home, RUNYARD_HOME, nearest .runyard up from the current folder, beside
the spec. Resolving writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.home import resolve_home, resolve_store_url

from .helpers import files_under


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)


def test_order_of_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    spec_folder = tmp_path / "specs"
    spec_folder.mkdir()
    before = files_under(tmp_path)
    assert resolve_home(None, spec_folder=spec_folder, cwd=deep) == spec_folder / ".runyard"
    assert resolve_home(None, cwd=deep) == deep / ".runyard"
    (project / ".runyard").mkdir()
    assert resolve_home(None, spec_folder=spec_folder, cwd=deep) == project / ".runyard"
    (deep / ".runyard").write_text("a file, not a home")
    assert resolve_home(None, spec_folder=spec_folder, cwd=deep) == project / ".runyard"
    monkeypatch.setenv("RUNYARD_HOME", str(tmp_path / "env"))
    assert resolve_home(None, spec_folder=spec_folder, cwd=deep) == tmp_path / "env"
    assert resolve_home(tmp_path / "flag", spec_folder=spec_folder, cwd=deep) == tmp_path / "flag"
    assert files_under(tmp_path) == before | {"project/.runyard", "project/a/b/.runyard"}


def test_relative_and_user_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert resolve_home("rel") == tmp_path / "rel"
    assert resolve_home("~/h") == tmp_path / "user" / "h"
    monkeypatch.setenv("RUNYARD_HOME", "envrel")
    assert resolve_home(None) == tmp_path / "envrel"


def test_store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_store_url(None, tmp_path) == f"sqlite:///{tmp_path}/runyard.db"
    monkeypatch.setenv("RUNYARD_STORE", "postgresql://db/x")
    assert resolve_store_url(None, tmp_path) == "postgresql://db/x"
    assert resolve_store_url("sqlite:///other.db", tmp_path) == "sqlite:///other.db"
