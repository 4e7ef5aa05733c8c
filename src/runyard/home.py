"""Where a project's runyard data lives (the home) and which store it uses. Resolving writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

from runyard.layout import HomePaths, home_in


def resolve_home(explicit: str | os.PathLike[str] | None = None, *, spec_folder: str | os.PathLike[str] | None = None,
                 cwd: str | os.PathLike[str] | None = None) -> Path:
    """``--home``, else ``RUNYARD_HOME``, else the nearest ``.runyard`` walking up from the current folder,
    else ``.runyard`` beside the spec (or in the current folder when there is no spec)."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("RUNYARD_HOME")
    if env:
        return Path(env).expanduser().resolve()
    start = Path(cwd or os.getcwd()).resolve()
    for folder in (start, *start.parents):
        candidate = Path(home_in(str(folder)))
        if candidate.is_dir():
            return candidate
    return Path(home_in(str(Path(spec_folder).resolve() if spec_folder else start)))


def resolve_store_url(explicit: str | None, home: Path) -> str:
    """``--store``, else ``RUNYARD_STORE``, else the SQLite file in the home."""
    return explicit or os.environ.get("RUNYARD_STORE") or f"sqlite:///{HomePaths(str(home)).store_file}"
