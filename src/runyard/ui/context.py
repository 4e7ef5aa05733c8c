"""What every request handler of the dashboard shares: the home, the store (read-only; a writable one
only for a control request, never in read-only mode), the secrets and the folders of templates and
static files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runyard.app.dashboard import RunSets
from runyard.ui import security

if TYPE_CHECKING:
    from runyard.store.base import Store
    from runyard.store.roles import ResultsReader

STATIC = Path(__file__).with_name("static")
TEMPLATES = Path(__file__).with_name("templates")

@dataclass
class Dashboard:
    """What every request handler shares: the home, the store, the secrets and the mode."""

    home: str
    store_url: str
    readonly: bool
    token: str | None
    csrf: str = field(default_factory=security.new_token)
    allowed_hosts: set[str] = field(default_factory=set)
    runsets: RunSets = field(default_factory=RunSets)
    _reader: ResultsReader | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def reading(self) -> Iterator[ResultsReader]:
        """The read-only store, one request at a time."""
        from runyard.store import open_store

        with self._lock:
            if self._reader is None:
                self._reader = open_store(self.store_url, readonly=True)
            yield self._reader

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """A writable store for one control request (never in read-only mode)."""
        from runyard.store import open_store

        if self.readonly:
            raise PermissionError("the dashboard is read-only")
        with self._lock, open_store(self.store_url) as store:
            yield store

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


