"""Toy-world data for the downstream tests: attribute-classification ImageFolders, pretraining rows, and
a tiny SynCLR encoder pretrained on those rows (built once per machine into the model cache).

Images come from the toy world's renderer (`synclr_ray.segment.synthetic.draw_scene`). A caption of
the pretraining rows names a colour-shape concept, and its 4 images are 4 scenes of it with every other
attribute (size, texture, count, position, background) drawn anew, as a generator draws a caption in
varied photos. At this scale (150 steps of a 4-block ViT) the encoder learns the object's colour apart
from its background, not yet its outline (measured: linear probe on object colour 0.96 against 0.65
for random init; on shape both at chance), so the learning checks classify the object's colour.
"""

import io
import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image

from synclr_ray import exports, rows, storage
from synclr_ray.segment.synthetic import draw_scene
from synclr_ray.toyworld.catalog import ATTRIBUTES, COLOURS, SHAPES

PRETRAIN_VERSION = 5  # bump when the rows or the settings below change: the cached encoder is rebuilt
PRETRAIN = ["train.batch_captions=12", "train.steps=150", "train.checkpoint_every=150", "train.log_every=50",
            "train.cpus_per_worker=2", "train.loader_tasks=2", "ray.progress_bars=false"]  # fmt: skip


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_toy_folder(uri: str, attribute: str, sizes: dict[str, int], size: int = 48, seed: int = 0) -> str:
    """An ImageFolder at ``uri`` whose classes are the values of a toy-world ``attribute`` ("shape",
    "colour"): ``sizes[split]`` scenes per class, every other attribute random."""
    rng = np.random.default_rng(seed)
    for split, per_class in sizes.items():
        for value in ATTRIBUTES[attribute]:
            for i in range(per_class):
                image = draw_scene(rng, size, **{attribute: value})[0]
                storage.write_bytes(storage.join(uri, split, str(value), f"{i:04d}.png"), _png(image))
    return uri


def write_shape_rows(directory: Path, size: int = 64, seed: int = 0) -> Path:
    """Committed image rows (`rows.IMAGE_SCHEMA`), one caption per colour-shape concept ("a red star"); its
    4 images are 4 scenes of that concept, everything else random. Captions that share a colour differ in
    shape, so telling a caption's positives from its negatives takes the shape."""
    rng = np.random.default_rng(seed)
    concepts = list(itertools.product(COLOURS, SHAPES))
    records = [
        {"caption_id": f"concept-{c:05d}", "index": c, "epoch": 0, "caption": f"a {colour} {shape}",
         "concept": f"{colour} {shape}", "concept_source": "test", "template": "c -> caption", "seed": c,
         "images": [_png(draw_scene(rng, size, shape=shape, colour=colour)[0]) for _ in range(4)],
         "seeds": list(range(4)), "width": size, "height": size, "generator": "test-shapes"}
        for c, (colour, shape) in enumerate(concepts)
    ]  # fmt: skip
    rows.write_rows(str(directory), "part-000", rows.to_table(records, rows.IMAGE_SCHEMA), rows.IMAGE_SCHEMA)
    return directory


def pretrained_shapes_export() -> str:
    """The export of the tiny preset pretrained on the 36 colour-shape captions for 150 steps (cached; needs Ray up)."""
    from synclr_ray.config import load_config
    from synclr_ray.train.stage import run_pretrain

    target = storage.cache_dir() / "test-models" / f"shapes-synclr-v{PRETRAIN_VERSION}"
    with FileLock(f"{target}.lock"):
        if not (target / "export" / exports.LATEST_FILE).is_file():
            building = target.with_name(f"{target.name}.building")
            shutil.rmtree(building, ignore_errors=True)
            with (
                tempfile.TemporaryDirectory() as image_rows
            ):  # storage.list_files skips paths under a hidden dir (~/.cache)
                run_pretrain(load_config("tiny", PRETRAIN), str(building), str(write_shape_rows(Path(image_rows))))
            shutil.rmtree(target, ignore_errors=True)
            building.rename(target)
    return str(target / "export")
