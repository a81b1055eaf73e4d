"""Streaming vs pre-generated: the trainer fed straight from the generators, or from Parquet.

(a) `synclr pipeline`: tiny LLM -> tiny SD -> trainer in one Ray Data plan, every row also
written through; (b) `synclr pretrain` on exactly those written rows. Both train the same
steps; each reports the trainer's images/s and data-wait fraction from its metrics. The
generation:training ratio is generated images/s (a) over the images/s the trainer consumes
when never starved (b): below 1, this machine needs more generators per trainer.

    .venv/bin/python bench/pipeline.py [--steps 30] [--set key=value ...]
"""

import argparse
import json
import tempfile
from pathlib import Path

import ray

from synclr_ray.cluster import init_ray
from synclr_ray.config import load_config
from synclr_ray.pipeline import run_pipeline
from synclr_ray.runroot import RunRoot
from synclr_ray.train.stage import run_pretrain


def trainer_numbers(train_dir: str, skip: int) -> tuple[float, float]:
    """Mean images/s and data-wait over the logged windows after the first ``skip`` (warm-up)."""
    records = [json.loads(line) for line in (Path(train_dir) / "metrics.jsonl").read_text().splitlines()][skip:]
    return (sum(r["images_per_s"] for r in records) / len(records), sum(r["data_wait"] for r in records) / len(records))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="Dotted config override.")
    args = parser.parse_args()
    overrides = [
        "pipeline.write_through=true",
        "train.batch_captions=8", f"train.steps={args.steps}", "train.log_every=5",
        f"train.checkpoint_every={args.steps}", "ray.progress_bars=false", *args.overrides,
    ]  # fmt: skip
    cfg = load_config("tiny", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        streamed, staged = RunRoot(f"{tmp}/streamed"), RunRoot(f"{tmp}/staged")
        init_ray(cfg.ray, _temp_dir=f"{tmp}/ray", log_to_driver=False)
        report = run_pipeline(cfg, streamed.root)
        run_pretrain(cfg, staged.root, images_uri=streamed.stream)
        ray.shutdown()
        stream_ips, stream_wait = trainer_numbers(streamed.train, skip=1)
        staged_ips, staged_wait = trainer_numbers(staged.train, skip=1)
    generated_ips = report["stages"]["images"]["rows_per_s"] * cfg.images.images_per_caption
    print(f"\nstreaming run: {args.steps} steps in {report['seconds']:.0f} s, {report['executions']} plan execution(s)")
    print(f"\n{'':24}{'images/s':>10}{'data-wait':>11}")
    print(f"{'(a) streaming':24}{stream_ips:10.1f}{100 * stream_wait:10.1f}%")
    print(f"{'(b) pre-generated':24}{staged_ips:10.1f}{100 * staged_wait:10.1f}%")
    print(f"(a)/(b) trainer throughput: {stream_ips / staged_ips:.2f}")
    print(f"generation:training ratio on this machine: {generated_ips:.1f} generated images/s / "
          f"{staged_ips:.1f} consumed = {generated_ips / staged_ips:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
