"""Table 5 in miniature: caption-level vs image-level positives vs random init, probed attribute by attribute.

Data: toy-world scenes (every attribute drawn uniformly), one caption each (``describe``: shape,
colour, size, texture, background and count in words) and 4 renders that differ only in what the
caption does not say (position, rotation, scale, shade, lighting, noise), written as image rows.
The same tiny-preset pretraining (``synclr pretrain``'s code path, same steps and batches) runs
with ``train.loss.positives=caption`` (the 4 images of a caption are positives) and with
``positives=image`` (SimCLR-style: a crop's only positive is its own image's global crop), for
each seed. The exported teachers and a random-init encoder of each seed are then probed on
held-out renders labelled by each attribute (linear probe, the eval stage's protocol). The table
gives top-1 per attribute, mean and spread (std) over seeds. ``--fix`` holds scene attributes fixed
in the training scenes and the probe set alike (a smaller world: which attributes must the objective
tell apart?); ``--unsaid colour=0.5 ...`` leaves an attribute out of that share of the captions, whose
4 renders then each draw their own value, as a generator draws what a caption does not say (what
must the captions tie together?); ``--positives caption`` runs one arm; ``--set`` overrides the
pretraining config of every arm.

    .venv/bin/python bench/ablation.py [--steps 100] [--captions 512] [--seeds 3] [--probe-images 600]
        [--positives caption image] [--fix size=large count=1 ...] [--unsaid colour=1.0 ...]
        [--set train.batch_captions=4 ...]
"""

import argparse
import io
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

from synclr_ray import rows
from synclr_ray.config import Config, load_config
from synclr_ray.encoder import Encoder, load_encoder
from synclr_ray.eval.baseline import random_baseline
from synclr_ray.eval.linear_probe import linear_probe
from synclr_ray.toyworld import ATTRIBUTES, describe, render, sample_scene
from synclr_ray.toyworld.catalog import parse_attributes
from synclr_ray.toyworld.language import OMITTABLE
from synclr_ray.train.stage import run_pretrain

IMAGES_PER_CAPTION = 4


def jpeg(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_toy_rows(
    directory: Path,
    captions: int,
    size: int,
    seed: int,
    files: int = 8,
    fixed: dict[str, str | int] | None = None,
    unsaid: dict[str, float] | None = None,
) -> Path:
    """``captions`` image rows (one scene, its caption and 4 renders each) as ``files`` committed Parquet files.

    ``fixed`` attributes are the same in every scene; ``unsaid`` maps an attribute to the share of
    captions that leave it out, and each render of such a caption draws that attribute anew.
    """
    rng = np.random.default_rng(seed)
    records = []
    for index in range(captions):
        scene = sample_scene(rng, **(fixed or {}))
        omit = [name for name, share in (unsaid or {}).items() if rng.uniform() < share]
        said = {name: value for name, value in scene.attributes().items() if name not in omit}
        images = [jpeg(render(sample_scene(rng, **said), size, rng).image) for _ in range(IMAGES_PER_CAPTION)]
        records.append({"caption_id": f"toy-{index:06d}", "index": index, "epoch": 0,
                        "caption": describe(scene, rng, omit), "concept": scene.shape, "concept_source": "toyworld",
                        "template": "toy scene", "seed": index, "images": images,
                        "seeds": list(range(IMAGES_PER_CAPTION)), "width": size, "height": size,
                        "generator": "toyworld renderer"})  # fmt: skip
    table = rows.to_table(records, rows.IMAGE_SCHEMA)
    per_file = -(-captions // files)
    for part in range(files):
        rows.write_rows(str(directory), f"part-{part:03d}", table.slice(part * per_file, per_file), rows.IMAGE_SCHEMA)
    return directory


def probe_set(count: int, size: int, seed: int, fixed: dict[str, str | int]) -> tuple[list, dict[str, np.ndarray]]:
    """``count`` held-out renders of new scenes, and the label per render of each attribute not held fixed."""
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng, **fixed) for _ in range(count)]
    images = [render(scene, size, rng).image for scene in scenes]
    labels = {
        name: np.array([values.index(getattr(s, name)) for s in scenes])
        for name, values in ATTRIBUTES.items()
        if name not in fixed
    }
    return images, labels


def probe(encoder: Encoder, images: list, labels: dict[str, np.ndarray], cfg: Config, seed: int) -> dict[str, float]:
    """Linear-probe top-1 per attribute on the encoder's CLS features (first half fits, second half tests)."""
    features = encoder.embed(images)
    half = len(images) // 2
    return {
        name: linear_probe(
            (features[:half], y[:half]),
            (features[half:], y[half:]),
            cfg.eval.probe_cs,
            val_fraction=cfg.eval.val_fraction,
            seed=seed,
        )["top1"]  # fmt: skip
        for name, y in labels.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="Pretraining steps per run.")
    parser.add_argument("--captions", type=int, default=512, help="Toy captions (x 4 images) to pretrain on.")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds per arm (init, data order, crops).")
    parser.add_argument("--probe-images", type=int, default=600, help="Held-out renders (half fit, half test).")
    parser.add_argument("--config", default="tiny", help="Preset or YAML file.")
    parser.add_argument("--positives", nargs="+", default=["caption", "image"], choices=["caption", "image"])
    parser.add_argument("--fix", nargs="*", default=[], help="Scene attributes held fixed, e.g. size=large count=1.")
    parser.add_argument("--unsaid", nargs="*", default=[], help="Share of captions leaving it out, e.g. colour=0.5.")
    parser.add_argument("--set", nargs="*", default=[], help="Config overrides, e.g. train.batch_captions=4.")
    args = parser.parse_args()
    try:
        fixed = parse_attributes(args.fix)
    except ValueError as err:
        parser.error(f"--fix: {err}")
    try:
        unsaid = parse_shares(args.unsaid)
    except ValueError as err:
        parser.error(f"--unsaid: {err}")
    if set(unsaid) & set(fixed):
        parser.error(f"--unsaid: {sorted(set(unsaid) & set(fixed))} also held fixed by --fix")
    started = time.perf_counter()
    base = load_config(args.config, args.set)
    size = base.train.crops.global_size
    results: dict[str, list[dict[str, float]]] = {arm: [] for arm in [*args.positives, "random init"]}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_toy_rows(Path(tmp) / "images", args.captions, size, seed=1000, fixed=fixed, unsaid=unsaid)
        images, labels = probe_set(args.probe_images, size, seed=2000, fixed=fixed)
        ray.init(num_cpus=base.ray.num_cpus, include_dashboard=False, _temp_dir=f"{tmp}/ray", log_to_driver=False)
        try:
            for seed in range(args.seeds):
                for positives in args.positives:
                    cfg = load_config(args.config, [
                        f"seed={seed}", f"train.loss.positives={positives}", f"train.steps={args.steps}",
                        f"train.optim.warmup_steps={min(base.train.optim.warmup_steps, args.steps // 5)}",
                        f"train.checkpoint_every={args.steps}", f"train.log_every={max(args.steps // 4, 1)}",
                        "train.cpus_per_worker=2", "train.loader_tasks=2", "ray.progress_bars=false", *args.set,
                    ])  # fmt: skip
                    root = f"{tmp}/run-{positives}-{seed}"
                    run_pretrain(cfg, root, images_uri=str(data))
                    encoder = load_encoder(f"{root}/export")
                    results[positives].append(probe(encoder, images, labels, cfg, seed))
                    print(f"seed {seed} positives={positives}: {results[positives][-1]}", flush=True)
                results["random init"].append(probe(random_baseline(encoder, seed), images, labels, base, seed))
        finally:
            ray.shutdown()
    print_table(results, args, time.perf_counter() - started, base)


def parse_shares(pairs: list[str]) -> dict[str, float]:
    """``ATTRIBUTE=SHARE`` strings as a map of omittable caption attributes to shares in [0, 1]."""
    shares = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in OMITTABLE or not text.replace(".", "", 1).isdigit() or float(text) > 1:
            raise ValueError(f"{pair!r} is not ATTRIBUTE=SHARE with ATTRIBUTE one of {', '.join(OMITTABLE)}, "
                             "SHARE in [0, 1]")  # fmt: skip
        shares[name] = float(text)
    return shares


def print_table(results: dict[str, list[dict[str, float]]], args: argparse.Namespace, seconds: float, cfg: Config):
    """The markdown table of top-1 per attribute and arm, with the command and the run's size."""
    half = args.probe_images // 2
    print(f"\nTable 5 in miniature: linear-probe top-1 (%) on {half} held-out toy renders ({half} more fit the probe),")
    print(f"mean +- std over {args.seeds} seed(s); {args.steps} steps x {cfg.train.batch_captions} captions x "
          f"{IMAGES_PER_CAPTION} images from {args.captions} toy captions; {seconds / 60:.1f} min")  # fmt: skip
    print(f"$ python {' '.join(shlex.quote(a) for a in sys.argv)}\n")
    arms = list(results)
    columns = ["attribute", "chance", *(f"{arm} positives" for arm in arms[:-1]), arms[-1]]
    lines = []
    for name in next(iter(results.values()))[0]:
        row = [name, f"{100 / len(ATTRIBUTES[name]):.1f}"]
        for arm in arms:
            scores = 100 * np.array([run[name] for run in results[arm]])
            row.append(f"{scores.mean():.1f} +- {scores.std():.1f}")
        lines.append(row)
    widths = [max(len(row[i]) for row in [columns, *lines]) for i in range(len(columns))]
    for index, row in enumerate([columns, *lines]):
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")


if __name__ == "__main__":
    main()
