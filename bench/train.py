"""Training ingest benchmark: Ray Data + Ray crop tasks vs a plain torch DataLoader, side by side.

Both feed the same model and training step from the same Parquet with the same augmentations
(``crop_rows``), both reshuffled every epoch (the stage's ``shuffled_rows``; the DataLoader's
seeded ``shuffle``); each reports steps/s and the fraction of wall time spent waiting for data,
measured after a warmup. Targets on 2 cores: data-wait <= 10%, Ray >= 0.9x the DataLoader.

    .venv/bin/python bench/train.py [--steps 30] [--warmup 10] [--captions 64]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import ray
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "train"))
from gratings import write_image_rows

from synclr_ray import rows
from synclr_ray.cluster import init_ray
from synclr_ray.config import Config, load_config
from synclr_ray.seeds import derive
from synclr_ray.train.ingest import CropBatch, crop_rows
from synclr_ray.train.loop import global_batch_masks, train_step
from synclr_ray.train.masking import MaskGenerator
from synclr_ray.train.objective import SynCLR
from synclr_ray.train.order import shuffled_rows
from synclr_ray.train.schedules import Schedules
from synclr_ray.train.stage import fit


class CaptionRows(Dataset):
    """One item per caption: the crops of all its images (the same function the Ray ingest runs)."""

    def __init__(self, files: list[Path], cfg: Config) -> None:
        table = pq.read_table(files, columns=["caption_id", "images"])
        self.ids, self.images, self.cfg = table.column("caption_id").to_pylist(), table.column("images"), cfg

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int):
        g, local, _ = crop_rows([self.ids[index]], [self.images[index].as_py()], self.cfg.train, self.cfg.seed, epoch=0)
        return torch.from_numpy(g), torch.from_numpy(local), self.ids[index]


def collate(items) -> CropBatch:
    per = items[0][0].shape[0]
    labels = torch.arange(len(items)).repeat_interleave(per)
    return CropBatch(torch.cat([g for g, _, _ in items]), torch.cat([local for _, local, _ in items]).flatten(0, 1), labels,
                     [i for _, _, i in items])  # fmt: skip


def dataloader_run(files: list[Path], cfg: Config, steps: int, warmup: int, workers: int) -> dict[str, float]:
    tcfg = cfg.train
    torch.manual_seed(cfg.seed)
    model = SynCLR(tcfg)
    optimizer = torch.optim.AdamW(model.param_groups(), lr=0.0, betas=tcfg.optim.betas)
    schedules, masks = Schedules(tcfg), MaskGenerator(tcfg.mask, model.grid)
    loader = DataLoader(CaptionRows(files, cfg), batch_size=tcfg.batch_captions, shuffle=True,
                        generator=torch.Generator().manual_seed(cfg.seed), num_workers=workers, collate_fn=collate,
                        drop_last=True, persistent_workers=True, prefetch_factor=tcfg.prefetch_batches)  # fmt: skip
    autocast = torch.autocast("cpu", enabled=False)
    step, wait, start = 0, 0.0, 0.0
    while step < warmup + steps:
        ready = time.perf_counter()
        for batch in loader:
            if step == warmup:
                wait, start = 0.0, time.perf_counter()
            elif step > warmup:
                wait += time.perf_counter() - ready
            batch_masks = global_batch_masks(masks, batch.num_images, derive(cfg.seed, step, "masks"), 0, 1)
            train_step(model, model, optimizer, batch, batch_masks, schedules.at(step), autocast, torch.device("cpu"),
                       tcfg.optim.grad_clip, derive(cfg.seed, step, 0))  # fmt: skip
            step += 1
            ready = time.perf_counter()
            if step == warmup + steps:
                break
    elapsed = time.perf_counter() - start
    return {"steps_per_s": steps / elapsed, "data_wait": wait / elapsed}


def ray_run(files: list[Path], cfg: Config, steps: int, warmup: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as run_dir:
        dataset, clock = shuffled_rows(
            [str(f) for f in files], rows.TRAINING_COLUMNS, cfg.seed, cfg.train.shuffle_window
        )
        fit(cfg, dataset, f"{run_dir}/train", steps=warmup + steps, epoch_clock=clock)
        lines = (Path(run_dir) / "train" / "metrics.jsonl").read_text().splitlines()
    windows = [json.loads(line) for line in lines][1:]  # the first window holds the warmup
    images_per_step = cfg.train.batch_captions * 4
    seconds = sum(cfg.train.log_every * images_per_step / w["images_per_s"] for w in windows)
    waited = sum(cfg.train.log_every * images_per_step / w["images_per_s"] * w["data_wait"] for w in windows)
    return {"steps_per_s": len(windows) * cfg.train.log_every / seconds, "data_wait": waited / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="Measured steps per variant.")
    parser.add_argument("--warmup", type=int, default=10, help="Unmeasured steps first (a multiple of 10).")
    parser.add_argument("--captions", type=int, default=64, help="Captions in the benchmark Parquet.")
    parser.add_argument("--config", default="tiny", help="Preset or YAML file.")
    args = parser.parse_args()
    total = args.warmup + args.steps
    cfg = load_config(args.config, [f"train.steps={total}", "train.log_every=10", f"train.checkpoint_every={total}",
                                    "train.loader_tasks=2", "ray.progress_bars=false"])  # fmt: skip
    torch.set_num_threads(1)  # a Ray Train worker with 1 CPU computes on 1 thread too
    with tempfile.TemporaryDirectory() as tmp:
        files = [
            Path(f) for f in rows.CommitLog(str(write_image_rows(Path(tmp) / "images", args.captions, files=4))).files()
        ]
        init_ray(cfg.ray, _temp_dir=f"{tmp}/ray", log_to_driver=False)
        try:
            results = {"ray": ray_run(files, cfg, args.steps, args.warmup)}
        finally:
            ray.shutdown()
        results["dataloader"] = dataloader_run(files, cfg, args.steps, args.warmup, workers=2)
    for name, r in results.items():
        print(f"{name:>10}: {r['steps_per_s']:.3f} steps/s, data-wait {100 * r['data_wait']:.1f}%")
    ratio = results["ray"]["steps_per_s"] / results["dataloader"]["steps_per_s"]
    print(f"ray / dataloader throughput: {ratio:.2f}x (target >= 0.9x); ray data-wait target <= 10%")


if __name__ == "__main__":
    main()
