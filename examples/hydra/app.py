"""A Hydra app as it is written for Hydra alone: runyard sweeps it with `{*hydra}` (runyard.yaml)."""

import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import runyard


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    loss = 1.0
    for epoch in range(cfg.epochs):
        loss *= 1 - cfg.lr * cfg.model.width / 64
        runyard.log(step=epoch, loss=loss + cfg.seed * 0.001)
    folder = Path(HydraConfig.get().runtime.output_dir)
    (folder / "config.json").write_text(json.dumps(OmegaConf.to_container(cfg)))
    print(f"loss {loss:.4f}")


if __name__ == "__main__":
    main()
