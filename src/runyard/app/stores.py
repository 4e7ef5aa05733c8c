"""Which store a command works on: ``--store URL`` / ``RUNYARD_STORE``, else the SQLite file of the home."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from runyard.errors import RunNotFound

if TYPE_CHECKING:
    from runyard.store.base import Store


def open_existing(home: str | os.PathLike[str] | None, store_url: str | None) -> Store:
    """Open the store without creating one (RunNotFound when a SQLite store is not there): reading
    commands never write a new home."""
    from runyard.home import resolve_home, resolve_store_url
    from runyard.store import open_store
    from runyard.store.checks import sqlite_file

    url = resolve_store_url(store_url, resolve_home(home))
    file = sqlite_file(url)
    if file is not None and not os.path.exists(file):
        raise RunNotFound(f"no runyard store at {file}: run `runyard run` or `runyard submit` "
                          "first, or point --home / --store at an existing one")
    return open_store(url)


def open_for_plan(home: str | os.PathLike[str], store_url: str | None) -> Store:
    """Open (creating it when needed) the store a plan of ``home`` is submitted to, then make the home
    folder: a store that cannot be opened writes nothing."""
    from runyard.home import resolve_store_url
    from runyard.store import open_store

    store = open_store(resolve_store_url(store_url, Path(home)))
    try:
        os.makedirs(home, exist_ok=True)
    except BaseException:
        store.close()
        raise
    return store
