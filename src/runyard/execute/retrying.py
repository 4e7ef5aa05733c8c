"""One retry policy for every store call of a worker (DESIGN §10: a store outage loses nothing).

The worker talks to its store through :func:`guarded`, a stand-in for the store whose every call goes
through one :class:`StoreRetry`:

- the first failure (:class:`StoreUnavailable`: server down, connection lost, SQLite lock held by another
  process) starts an *outage*: one line on stderr says so, and from then on the store is tried again with a
  bounded exponential backoff (``first`` seconds, doubling, at most ``most``); between two tries every call
  fails at once, without touching the network, so the worker's loop keeps collecting its steps and
  answering signals;
- the first call that succeeds ends the outage: one line on stderr says so;
- an outage longer than ``window`` seconds (``--store-timeout``) is :attr:`StoreRetry.expired`: the worker
  then launches nothing more, waits for its running steps and exits with :class:`StoreOutage` (exit 75).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from runyard.errors import StoreOutage, StoreUnavailable
from runyard.store.base import Store

T = TypeVar("T")
D = TypeVar("D")

DEFAULT_WINDOW = 300.0  # seconds: --store-timeout
FIRST_DELAY, MOST_DELAY = 0.5, 10.0


def say_on_stderr(line: str) -> None:
    try:
        sys.stderr.write(f"runyard: {line}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class StoreRetry:
    """The state of the worker's link to its store: up, or down since when and why."""

    def __init__(self, window: float = DEFAULT_WINDOW, *, say: Callable[[str], None] = say_on_stderr,
                 first: float = FIRST_DELAY, most: float = MOST_DELAY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.say = say
        self.first = first
        self.most = most
        self.clock = clock
        self.down_since: float | None = None
        self.reason = ""
        self.next_try = 0.0
        self._delay = first

    @property
    def down(self) -> bool:
        return self.down_since is not None

    @property
    def down_for(self) -> float:
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    @property
    def expired(self) -> bool:
        """Down for longer than the window."""
        return self.down_since is not None and self.down_for >= self.window

    def moments(self, now: float) -> list[float]:
        """In how many seconds a waiting worker has something to do about an outage: the next try, the end
        of the window (none that is past: a waiting loop must not spin)."""
        if self.down_since is None:
            return []
        return [at - now for at in (self.next_try, self.down_since + self.window) if at > now]

    def due(self) -> bool:
        """Whether the store may be tried now (always while it is up)."""
        return self.down_since is None or self.clock() >= self.next_try

    def failed(self, err: StoreUnavailable) -> None:
        now = self.clock()
        if self.down_since is None:
            self.down_since = now
            self.reason = str(err)
            self._delay = self.first
            self.say(f"store unreachable: {self.reason}; retrying, running steps keep running")
        else:
            self._delay = min(self._delay * 2, self.most)
        self.next_try = now + self._delay

    def succeeded(self) -> None:
        if self.down_since is not None:
            self.say(f"store reachable again after {self.down_for:.0f} s; recording what ended meanwhile")
            self.down_since = None
            self.reason = ""
            self._delay = self.first

    @staticmethod
    def call(fn: Callable[[], T], default: D) -> T | D:
        """``fn()`` (whose store calls are :func:`guarded`); ``default`` when the store is unreachable."""
        try:
            return fn()
        except StoreUnavailable:
            return default

    def through(self, fn: Callable[[], T], *, writes: bool = True) -> T:
        """``fn()`` under the policy: raises StoreUnavailable at once while the store is down and no new
        try is due, else tries and notes the outcome. A read that succeeds does not end an outage: another
        process holding a SQLite store's lock lets reads through but no write."""
        if not self.due():
            raise StoreUnavailable(f"{self.reason} (next try in {max(0.0, self.next_try - self.clock()):.1f} s)")
        try:
            value = fn()
        except StoreUnavailable as err:
            self.failed(err)
            raise
        if writes:
            self.succeeded()
        return value


class Window:
    """The worker's side of an outage: it gives up once the store has been away for longer than the window
    (launch nothing more, finish the running steps, exit 75), and takes heart when the store is back."""

    def __init__(self, retry: StoreRetry) -> None:
        self.retry = retry
        self.gave_up = False
        self._was_down = False

    def check(self, *, running: int, back: Callable[[], None]) -> str | None:
        """Call once per turn of the worker's loop. ``back`` runs once when the store answers again after an
        outage. Returns what to announce when the worker just gave up."""
        retry = self.retry
        if retry.down:
            self._was_down = True
        elif self._was_down:
            self._was_down = False
            self.gave_up = False
            back()
        if retry.expired and not self.gave_up:
            self.gave_up = True
            return (f"the store has been unreachable for {retry.down_for:.0f} s (--store-timeout {retry.window:g}): "
                    "launching nothing more" + (f"; waiting for {running} running steps" if running else ""))
        return None

    def give_up(self, kept: int) -> StoreOutage:
        """The error the worker ends with, ``kept`` results waiting in their ``meta.json``."""
        retry = self.retry
        results = (f"the results of {kept} step{'s' if kept != 1 else ''} that ended meanwhile are kept in their "
                   "meta.json and are recorded by the next `runyard run` or `runyard worker` (not run again)"
                   if kept else "no result was left unwritten")
        return StoreOutage(f"gave up on the store after {retry.down_for:.0f} s unreachable (--store-timeout "
                           f"{retry.window:g}): {retry.reason}; {results}. Bring the store back (check the server "
                           "and the URL), then run the same command again")


class _Guarded:
    """A store whose method calls go through a :class:`StoreRetry`; other attributes pass through."""

    def __init__(self, store: Store, retry: StoreRetry) -> None:
        self._store = store
        self._retry = retry

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value) or name.startswith("_") or name in _UNGUARDED:
            return value
        retry = self._retry

        writes = name in WRITES

        def guarded_call(*args: Any, **kwargs: Any) -> Any:
            return retry.through(lambda: value(*args, **kwargs), writes=writes)

        return guarded_call

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.close()


#: The store calls of a worker that write: one that succeeds ends an outage.
WRITES = frozenset({"claim", "started", "finish", "heartbeat", "register_worker", "unregister_worker", "log_metrics",
                    "log_metric_rows", "reap", "reap_worker", "submit", "set_status", "interrupt",
                    "pause", "cancel", "set_priority"})
_UNGUARDED = frozenset({"close", "wait_for_locks"})  # local: never reach the database


def guarded(store: Store, retry: StoreRetry) -> Store:
    """``store`` with every call under ``retry`` (see the module's docstring)."""
    return cast(Store, _Guarded(store, retry))
