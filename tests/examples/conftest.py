"""The seed-workflow examples of ``examples/``, each copied under ``tmp_path`` and run with the real ``runyard``
console script (a subprocess), its home under ``tmp_path``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from run.conftest import Project

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Project]:
    """``example("hydra")``: a copy of ``examples/hydra`` as a Project."""
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)

    def copy(name: str) -> Project:
        root = tmp_path / name
        shutil.copytree(EXAMPLES / name, root, ignore=shutil.ignore_patterns("__pycache__", ".runyard"))
        return Project(tmp=tmp_path, root=root, home=tmp_path / "home", rec=tmp_path / "rec.jsonl")

    return copy
