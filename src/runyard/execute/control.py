"""How a worker learns, while its steps run, that it must stop one: a cancel (``runyard cancel``
from any machine) or a lease taken over by another worker. And how it is woken when work arrives.

PostgreSQL: a ``LISTEN`` connection wakes the worker at once (new work, a cancel); an idle worker
still looks for work every ``LISTENED_POLL`` seconds, so a notification lost on the way (a link that
died silently and is not yet known to be dead) delays work by at most that. SQLite, or a PostgreSQL
listener whose link broke: the worker polls for work every ``poll`` seconds and checks the steps it
runs every ``check_every`` seconds (one indexed read of those keys).
"""

from __future__ import annotations

import time
from collections.abc import Collection

from runyard.errors import StoreUnavailable
from runyard.model import Status
from runyard.store.base import Listener
from runyard.store.roles import WorkQueue

CANCELLED, LOST = "cancelled", "lost"
LISTENED_POLL = 1.0  # seconds: the idle poll of a worker that listens (a claim on an empty queue is cheap)


class Control:
    def __init__(self, store: WorkQueue, worker_id: str, *, poll: float, check_every: float = 1.0,
                 listened_poll: float = LISTENED_POLL) -> None:
        self.store = store
        self.worker_id = worker_id
        self._poll = poll
        self._listened_poll = max(poll, listened_poll)
        self._check_every = check_every
        self._next_check = 0.0
        self._check_now = False
        self.listener: Listener | None = None
        try:
            self.listener = store.listener()
        except StoreUnavailable:
            self.listener = None

    @property
    def listening(self) -> bool:
        return self.listener is not None and self.listener.alive

    @property
    def poll(self) -> float:
        """How long an idle worker may sleep before it looks for work again."""
        return self._listened_poll if self.listening else self._poll

    def fileno(self) -> int:
        return self.listener.fileno() if self.listening and self.listener is not None else -1

    def woken(self) -> None:
        """The listener's socket is readable: read the notifications (a cancel makes the next
        :meth:`stops` ask the store at once)."""
        if self.listener is None:
            return
        if any(p.startswith("cancel:") for p in self.listener.drain()):
            self._check_now = True

    def keep_alive(self) -> bool:
        """With every heartbeat: reopen a broken listener. Returns True when it was reopened (the
        caller registers the new socket)."""
        if self.listener is None or self.listener.alive:
            return False
        return self.listener.reconnect()

    def next_check(self) -> float:
        return self._next_check

    def stops(self, running: Collection[str], *, force: bool = False) -> dict[str, str]:
        """Which of the ``running`` keys must be stopped, and why (``cancelled`` / ``lost``); asks the
        store at most every ``check_every`` seconds unless ``force``d or woken by a cancel."""
        now = time.monotonic()
        if not running or (now < self._next_check and not self._check_now and not force):
            return {}
        self._next_check = now + self._check_every
        self._check_now = False
        try:
            held = self.store.holders(running)
        except StoreUnavailable:
            return {}  # the store is away: keep running (the lease decides later)
        stops: dict[str, str] = {}
        for key in running:
            status, worker = held.get(key, (None, None))
            if status == Status.CANCELLED:
                stops[key] = CANCELLED
            elif status != Status.RUNNING or worker != self.worker_id:
                stops[key] = LOST
        return stops

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
