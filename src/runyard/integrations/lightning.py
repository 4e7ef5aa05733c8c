"""``RunyardLogger``: a PyTorch Lightning logger that records into the runyard step it runs in.

    trainer = Trainer(logger=RunyardLogger(), max_epochs=10)

* hyperparameters (``save_hyperparameters()``, ``log_hyperparams``) → ``{out}/hparams.json``;
* every ``self.log(...)`` → ``runyard.log(step=global_step, ...)``: metric series by step, in the store as
  the step runs, for ``compare``, ``--where`` and ``select:``;
* checkpoints → ``{out}/checkpoints/`` (Lightning's ``ModelCheckpoint`` writes them where the logger says),
  and ``{out}/checkpoints.json`` lists them (path relative to ``{out}``, monitored score, the best one), so a
  later step finds them under ``{train.out}`` and ``runyard show`` points at the folder.

Outside a runyard step ``{out}`` is the current folder (or ``save_dir``) and metrics are not recorded
(``runyard.log`` warns once). Works with ``lightning`` (``lightning.pytorch``) or ``pytorch_lightning``;
``pip install 'runyard[lightning]'``.
"""

from __future__ import annotations

import json
import os
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runyard import track
from runyard.errors import MissingDependency

try:
    import lightning.pytorch as pl
except ImportError:
    try:
        import pytorch_lightning as pl
    except ImportError:
        raise MissingDependency("lightning", "lightning", "runyard.integrations.lightning") from None

__all__ = ["RunyardLogger", "pl"]

rank_zero_only = pl.utilities.rank_zero_only


class RunyardLogger(pl.loggers.Logger):
    """Record a Lightning run's hyperparameters, metrics (by global step) and checkpoints in its runyard step."""

    def __init__(self, save_dir: str | os.PathLike[str] | None = None, *, checkpoints: bool = True) -> None:
        super().__init__()
        self._save_dir = str(save_dir) if save_dir is not None else str(track.out_dir())
        self._checkpoints = checkpoints
        self._listed: dict[str, dict[str, Any]] = {}

    @property
    def name(self) -> str:
        return ""  # checkpoints go to {out}/checkpoints: save_dir / name / version / "checkpoints"

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def root_dir(self) -> str:
        return self._save_dir

    @property
    def log_dir(self) -> str:
        return self._save_dir

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        values = vars(params) if isinstance(params, Namespace) else dict(params)
        path = Path(self._save_dir, "hparams.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        path.write_text(json.dumps({**old, **_plain(values)}, indent=2, sort_keys=True, default=repr) + "\n",
                        encoding="utf-8")

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        track.log(step=step, **metrics)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if not self._checkpoints:
            return
        best = getattr(checkpoint_callback, "best_model_path", "") or ""
        scores = dict(getattr(checkpoint_callback, "best_k_models", {}) or {})
        last = getattr(checkpoint_callback, "last_model_path", "") or ""
        for path in [*scores, *([last] if last else []), *([best] if best else [])]:
            if path and os.path.exists(path):
                score = scores.get(path)
                self._listed[self._relative(path)] = {
                    "path": self._relative(path), "score": None if score is None else float(score),
                    "monitor": getattr(checkpoint_callback, "monitor", None)}
        for entry in self._listed.values():
            entry["best"] = bool(best) and entry["path"] == self._relative(best)
        present = [e for e in self._listed.values() if os.path.exists(os.path.join(self._save_dir, e["path"]))]
        Path(self._save_dir, "checkpoints.json").write_text(json.dumps(present, indent=2) + "\n", encoding="utf-8")

    def _relative(self, path: str) -> str:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(self._save_dir))


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as JSON can hold them (anything else as its repr)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[str(key)] = _plain(value)
        elif value is None or isinstance(value, (str, int, float, bool, list, tuple)):
            out[str(key)] = list(value) if isinstance(value, tuple) else value
        else:
            out[str(key)] = repr(value)
    return out
