"""Image synthesis throughput side by side: (a) the Ray Data stage, (b) the same pipeline in one process.

    python bench/images.py [--captions 256] [--config tiny] [--set images.batch_size=8 ...]

(a) is `run_images` end to end on an already started local Ray cluster: planning, the actor
pool's start-up and model load, drawing, encoding and writing the Parquet shards. (b) is the
limit: the same `ImageGenerator` (same model, batch size, encoding) called in this process with
as many torch threads as one actor gets CPUs, after a warm-up batch. (b) runs before and after
(a) and the mean is used, since other load on the machine drifts. Prints images/s and (a)/(b)
(target >= 0.8 on 2 cores).
"""

import argparse
import logging
import tempfile
import time

import pyarrow as pa
import ray
import torch

from synclr_ray import rows
from synclr_ray.cluster import init_ray
from synclr_ray.config import Config, load_config
from synclr_ray.images.engine import ImageGenerator
from synclr_ray.images.stage import run_images


def caption_table(count: int) -> pa.Table:
    """Caption rows (`rows.CAPTION_SCHEMA`)."""
    subjects = [
        "red fox",
        "lighthouse",
        "espresso cup",
        "sailboat",
        "tabby cat",
        "oak tree",
        "steam train",
        "tulip field",
    ]
    return rows.to_table(
        [
            {"caption_id": f"bench-{i:06d}", "index": i, "epoch": 0, "concept": subjects[i % len(subjects)],
             "caption": f"a photo of a {subjects[i % len(subjects)]} at dusk, number {i}", "concept_source": "bench",
             "template": "c", "seed": i}
            for i in range(count)
        ],
        rows.CAPTION_SCHEMA,
    )  # fmt: skip


def in_process(cfg: Config, captions: pa.Table) -> float:
    """(b): images/s of the generator called directly, after one warm-up batch."""
    torch.set_num_threads(max(int(cfg.images.num_cpus), 1))
    generator = ImageGenerator(cfg)
    generator.generate(captions.slice(0, cfg.images.batch_size))
    started = time.perf_counter()
    images, _ = generator.generate(captions)
    return images.num_rows * cfg.images.images_per_caption / (time.perf_counter() - started)


def ray_stage(cfg: Config, captions: pa.Table) -> float:
    """(a): images/s of the whole stage, captions on disk to shards on disk."""
    root = tempfile.mkdtemp(prefix="bench-images-")
    rows.write_rows(f"{root}/captions", "part-0", captions, rows.CAPTION_SCHEMA)
    started = time.perf_counter()
    manifest = run_images(cfg, root)
    return manifest["images"] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--captions", type=int, default=256, help="Captions to draw (each gets images_per_caption images)."
    )
    parser.add_argument("--config", default="tiny", help="Preset or YAML file.")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="Dotted config override (repeatable)."
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.config, ["ray.progress_bars=false", *args.overrides])
    captions = caption_table(args.captions)

    init_ray(cfg.ray, _temp_dir=tempfile.mkdtemp(prefix="ray-bench-images-"))
    try:
        before = in_process(cfg, captions)
        stage = ray_stage(cfg, captions)
        after = in_process(cfg, captions)
    finally:
        ray.shutdown()
    limit = (before + after) / 2
    images = cfg.images
    print(
        f"images bench: {args.captions} captions x {images.images_per_caption} images, {images.resolution} px,"
        f" {images.scheduler} {images.num_inference_steps} steps, batch {images.batch_size} captions,"
        f" {images.pool.max_size} actor(s) x {images.num_cpus:g} CPU"
    )
    print(f"(a) Ray Data stage, end to end     {stage:8.2f} images/s")
    print(f"(b) one process, same batch        {limit:8.2f} images/s  (before {before:.2f}, after {after:.2f})")
    print(f"(a)/(b)                            {stage / limit:8.2f}   (target >= 0.8)")


if __name__ == "__main__":
    main()
