"""Toy-world data for the downstream tests: a shape classification ImageFolder, pretraining rows, and a tiny
SynCLR encoder pretrained on those rows (built once per machine into the model cache).

Images come from the toy world's renderer (`synclr_ray.segment.synthetic.draw_scene`). A caption of
the pretraining rows is one random scene and its 4 images are 4 renderings (the renderer's nuisance
differs); the classification set's class is the shape, with every other attribute random. A
representation that learned the toy world is expected to beat random weights there, and on the
segmentation set of the same scenes.
"""

import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image

from synclr_ray import rows, storage
from synclr_ray.segment.synthetic import draw_scene
from synclr_ray.toyworld.catalog import SHAPES, sample_scene
from synclr_ray.toyworld.render import render

PRETRAIN_VERSION = 3  # bump when the rows or the settings below change: the cached encoder is rebuilt
PRETRAIN = ["train.batch_captions=16", "train.steps=150", "train.checkpoint_every=150", "train.log_every=50",
            "train.cpus_per_worker=2", "train.loader_tasks=2", "ray.progress_bars=false"]  # fmt: skip


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_shape_folder(uri: str, sizes: dict[str, int], size: int = 48, seed: int = 0) -> str:
    """An ImageFolder at ``uri``: ``sizes[split]`` images per shape class, every other attribute random."""
    rng = np.random.default_rng(seed)
    for split, per_class in sizes.items():
        for name in SHAPES:
            for i in range(per_class):
                image = draw_scene(rng, size, shape=name)[0]
                storage.write_bytes(storage.join(uri, split, name, f"{i:04d}.png"), _png(image))
    return uri


def write_shape_rows(directory: Path, num_captions: int, size: int = 64, seed: int = 0) -> Path:
    """Committed image rows (`rows.IMAGE_SCHEMA`): each caption one random scene, rendered 4 times."""
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng) for _ in range(num_captions)]
    records = [
        {"caption_id": f"scene-{c:05d}", "index": c, "epoch": 0, "caption": f"toy scene {c}", "concept": "toy scene",
         "concept_source": "test", "template": "c -> caption", "seed": c,
         "images": [_png(render(scene, size, rng).image) for _ in range(4)], "seeds": list(range(4)),
         "width": size, "height": size, "generator": "test-shapes"}
        for c, scene in enumerate(scenes)
    ]  # fmt: skip
    rows.write_rows(str(directory), "part-000", rows.to_table(records, rows.IMAGE_SCHEMA), rows.IMAGE_SCHEMA)
    return directory


def pretrained_shapes_export() -> str:
    """The export of the tiny preset pretrained on 48 toy-world captions for 150 steps (cached; needs Ray up)."""
    from synclr_ray.config import load_config
    from synclr_ray.train.stage import run_pretrain

    target = storage.cache_dir() / "test-models" / f"shapes-synclr-v{PRETRAIN_VERSION}"
    with FileLock(f"{target}.lock"):
        if not (target / "export" / "model.safetensors").is_file():
            building = target.with_name(f"{target.name}.building")
            shutil.rmtree(building, ignore_errors=True)
            with (
                tempfile.TemporaryDirectory() as image_rows
            ):  # storage.list_files skips paths under a hidden dir (~/.cache)
                run_pretrain(load_config("tiny", PRETRAIN), str(building), str(write_shape_rows(Path(image_rows), 48)))
            shutil.rmtree(target, ignore_errors=True)
            building.rename(target)
    return str(target / "export")
