"""Feature extraction throughput side by side: (a) the Ray Data actor pool, (b) the same encoder in one process.

    python bench/eval.py [--config tiny] [--set eval.batch_size=64 ...]

On the 1,797 digits with a random-init encoder of the config's backbone (the tiny preset's
by default): (a) is `extract_features` end to end on a started local Ray cluster (planning,
the actor's start-up and model load, decoding, preprocessing, forward, collecting), with the
random baseline off; (b) is the limit: the same `FeatureExtractor` called in this process with
as many torch threads as one actor gets CPUs, after a warm-up batch. (b) runs before and after
(a) and the mean is used, since other load on the machine drifts. Prints images/s and (a)/(b).
On 2 busy cores the actor's start-up (a fresh process importing torch and timm) is most of
the gap; it is paid once per probe, so the ratio rises with the dataset size.
"""

import argparse
import tempfile
import time

import numpy as np
import ray
import timm
import torch

from synclr_ray.cluster import init_ray
from synclr_ray.config import Config, load_config
from synclr_ray.encoder import export_encoder
from synclr_ray.eval.datasets import digits
from synclr_ray.eval.features import FeatureExtractor, extract_features


def random_export(cfg: Config, out_dir: str) -> str:
    """A random-init encoder of the config's backbone at its global crop size."""
    torch.manual_seed(0)
    size = cfg.train.crops.global_size
    model = timm.create_model(cfg.train.backbone.name, img_size=size, num_classes=0, **cfg.train.backbone.kwargs)
    return export_encoder(model, out_dir, image_size=size)


def in_process(encoder_uri: str, rows: list[dict], batch_size: int) -> float:
    """(b): images/s of the extractor called directly, after one warm-up batch."""
    torch.set_num_threads(1)
    extractor = FeatureExtractor(encoder_uri, baseline_seed=None)
    batches = [
        {key: np.array([row[key] for row in rows[i : i + batch_size]]) for key in ("id", "image", "label", "split")}
        for i in range(0, len(rows), batch_size)
    ]
    extractor(batches[0])
    started = time.perf_counter()
    for batch in batches:
        extractor(batch)
    return len(rows) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cfg = load_config(args.config, ["ray.progress_bars=false", *args.overrides])
    init_ray(cfg.ray, _temp_dir=tempfile.mkdtemp(prefix="ray-bench-eval-"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            encoder_uri = random_export(cfg, tmp)
            data = digits()
            rows = data.rows.take_all()
            before = in_process(encoder_uri, rows, cfg.eval.batch_size)
            started = time.perf_counter()
            features = extract_features(data.rows, encoder_uri, cfg.eval)
            ray_rate = len(features.ids) / (time.perf_counter() - started)
            after = in_process(encoder_uri, rows, cfg.eval.batch_size)
    finally:
        ray.shutdown()
    plain = (before + after) / 2
    print(
        f"digits, {cfg.train.backbone.name} {cfg.train.backbone.kwargs} at {cfg.train.crops.global_size} px, batch {cfg.eval.batch_size}"
    )
    print(
        f"(a) Ray Data actor pool  {ray_rate:8.1f} images/s  (pool {cfg.eval.pool.min_size}-{cfg.eval.pool.max_size})"
    )
    print(f"(b) in process           {plain:8.1f} images/s  (before {before:.1f}, after {after:.1f})")
    print(f"(a)/(b) = {ray_rate / plain:.2f}")


if __name__ == "__main__":
    main()
