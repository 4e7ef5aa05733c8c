"""``runyard.integrations.lightning.RunyardLogger`` with a real PyTorch Lightning training run (a tiny model on
the CPU) inside a runyard step: hyperparameters in ``{out}/hparams.json``, every logged metric in the store
by global step, checkpoints under ``{out}/checkpoints`` listed with the best one. Skipped where torch or
Lightning is missing (``pip install torch==2.13.0 'runyard[lightning]'``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from run.conftest import Project

pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0: the CPU build)")
if not any(importlib.util.find_spec(name) for name in ("lightning", "pytorch_lightning")):
    pytest.skip("Lightning is not installed (pip install 'runyard[lightning]')", allow_module_level=True)

TRAIN = '''
import sys

import torch
from torch.utils.data import DataLoader, TensorDataset

from runyard.integrations.lightning import RunyardLogger, pl


class Line(pl.LightningModule):
    def __init__(self, lr: float, width: int = 4):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(1, width), torch.nn.Linear(width, 1))

    def training_step(self, batch, index):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


torch.manual_seed(0)
x = torch.linspace(-1, 1, 64).unsqueeze(1)
data = DataLoader(TensorDataset(x, 3 * x + 1), batch_size=16)
checkpoint = pl.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=2, save_last=True)
trainer = pl.Trainer(max_epochs=3, logger=RunyardLogger(), callbacks=[checkpoint], log_every_n_steps=1,
                     enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
trainer.fit(Line(lr=float(sys.argv[1])), data, data)
'''


def test_a_lightning_run_records_hparams_metrics_by_step_and_checkpoints(project: Project) -> None:
    project.file("train.py", TRAIN)
    project.spec("""
        experiment: pl
        params: {lr: 0.05}
        steps:
          train: python train.py {lr}
          test: test -f {train.out}/checkpoints/last.ckpt
        metrics:
          val_loss: {mode: min}
        """)
    done = project.run("run", timeout=600)
    assert done.code == 0, done
    with project.store() as store:
        run = store.runs("pl")[0]
        key = dict(run.steps)["train"]
        out = Path(store.execution(key).folder) / "out"
        points = store.metric_points(key)
    assert json.loads((out / "hparams.json").read_text()) == {"lr": 0.05, "width": 4}
    train = [p for p in points if p.name == "train_loss"]
    val = [p for p in points if p.name == "val_loss"]
    assert [p.step for p in train] == list(range(12)) and len(val) == 3  # 4 batches × 3 epochs; once per epoch
    assert val[-1].value < val[0].value  # it learns
    listed = json.loads((out / "checkpoints.json").read_text())
    assert {e["path"] for e in listed} == {p.relative_to(out).as_posix() for p in (out / "checkpoints").iterdir()}
    best = [e for e in listed if e["best"]]
    assert len(best) == 1 and best[0]["score"] == pytest.approx(min(p.value for p in val))
