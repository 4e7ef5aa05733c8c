"""``runyard tag``, ``untag`` and ``note``: labels on past runs, kept in the store and in each run's
``labels.json`` (so ``runyard reindex`` brings them back)."""

from __future__ import annotations

from collections.abc import Sequence

from runyard.errors import UsageError
from runyard.execute.files import write_labels
from runyard.store.base import RunRecord, Store


def tag_run(store: Store, run: str, tags: Sequence[str], *, experiment: str | None = None,
            remove: bool = False) -> RunRecord:
    """Add (``remove``: take off) ``tags`` of a run (id prefix or name); returns the run as it is now."""
    if not tags:
        raise UsageError("name at least one tag, e.g. `runyard tag RUN baseline`")
    record = store.run(run, experiment)
    now = store.tag(record.id, tags, remove=remove)
    write_labels(record.folder, now, record.note)
    return store.run(record.id, record.experiment)


def note_run(store: Store, run: str, text: str, *, experiment: str | None = None) -> RunRecord:
    """Replace a run's note ("" removes it); returns the run as it is now."""
    record = store.run(run, experiment)
    store.set_note(record.id, text)
    write_labels(record.folder, record.tags, text)
    return store.run(record.id, record.experiment)
