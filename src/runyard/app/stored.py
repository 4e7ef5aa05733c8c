"""The spec of an experiment as the store recorded it: what ``Yard.submit``, ``runyard select``, the
final stage of a worker and ``runyard reparse`` start from.

Each submit stores the spec's data and where it was read from (``spec_path``: a file, or ``<experiment
NAME>`` for one built in Python). The spec is rebuilt from that data with the folder of that file (for
``deps:`` hashes, imports and working folders), so a plan of the rebuilt spec has the keys, params and
run names the first submit gave. ``current_file`` reads the file at ``spec_path`` as it is now instead
(``runyard reparse``: the metrics block after a change).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from runyard.errors import UsageError
from runyard.spec.types import Spec
from runyard.store.base import Store
from runyard.store.records import ExperimentRecord


@dataclass(frozen=True)
class StoredSpec:
    spec: Spec
    record: ExperimentRecord

    @property
    def home(self) -> str:
        return self.record.home


def load_stored_spec(store: Store, experiment: str, *, current_file: bool = False) -> StoredSpec:
    """The spec of ``experiment`` rebuilt from the store (RunNotFound: no such experiment; SpecError:
    it does not validate here, say a ``call:`` module that cannot be imported). With ``current_file``,
    the spec file it was last submitted from, read again (UsageError: not from a file, the file is gone,
    or it now defines another experiment)."""
    record = store.experiment(experiment)
    path = record.spec_path
    if current_file:
        return StoredSpec(_read_again(experiment, path), record)
    from runyard.spec.load import spec_from_dict

    folder = os.path.dirname(path) if os.path.isabs(path) else os.getcwd()
    return StoredSpec(spec_from_dict(record.spec, folder=folder, source=path or "<stored spec>"), record)


def _read_again(experiment: str, path: str) -> Spec:
    from runyard.spec.load import load_spec

    if not os.path.isabs(path):
        raise UsageError(f"experiment {experiment!r} was not run from a spec file ({path}): its spec file is "
                         "read again; run it from a file first")
    if not os.path.isfile(path):
        raise UsageError(f"the spec of experiment {experiment!r} was {path}, which no longer exists: restore the "
                         "file, or `runyard run` the spec from its new place, which records the new path")
    spec = load_spec(path)
    if spec.experiment != experiment:
        raise UsageError(f"{path} now defines experiment {spec.experiment!r}, not {experiment!r}")
    return spec
