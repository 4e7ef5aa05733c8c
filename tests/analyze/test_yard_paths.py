"""Where ``runyard.open`` looks for a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.analyze.yard import store_url
from runyard.errors import RunNotFound


def test_a_project_folder_opens_its_dot_runyard(tmp_path: Path) -> None:
    home = tmp_path / "project" / ".runyard"
    home.mkdir(parents=True)
    (home / "runyard.db").write_bytes(b"")
    assert store_url(tmp_path / "project") == f"sqlite:///{home / 'runyard.db'}"
    assert store_url(home) == f"sqlite:///{home / 'runyard.db'}"


def test_a_folder_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunNotFound, match="no runyard store at"):
        store_url(tmp_path)
