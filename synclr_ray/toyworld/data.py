"""The toy world's data, built as ``builtin://toyworld``: what the stages read by URI, like any file.

- ``concepts.txt``: the colour-shape concepts, one per line (a caption concept file);
- ``backgrounds.parquet``: each concept with the world's background (a caption background table);
- ``probe/<attribute>/{train,test}/<value>/<n>.png``: the probe sets, ImageFolders for
  ``synclr probe``, one per attribute the world varies (shape, colour, size). The same 1,800
  held-out renders in each, scenes drawn uniformly from the world (every attribute independent of
  the others) with the renderer's full nuisance (position, rotation, scale, shade, lighting, noise),
  from a seed that nothing fitted ever sees; the first 70% are ``train``, the rest ``test``.
  Probing ``shape`` asks for the shape across colours and sizes.
"""

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synclr_ray.toyworld.catalog import ATTRIBUTES, WORLD, WORLD_ATTRIBUTES, concepts, world_scene
from synclr_ray.toyworld.render import render

VERSION = "v2"  # v1: probe sets over the whole catalog (textures, backgrounds, counts)
PROBE_IMAGES = 1800
PROBE_TRAIN_FRACTION = 0.7
PROBE_SEED = 20_240_601  # used nowhere else: the probe images are never fitted on
PROBE_SIZE = 64


def build(out_dir: Path) -> None:
    """Write the concept list, the background table and the probe sets under ``out_dir``."""
    out_dir.mkdir(parents=True)
    names = concepts()
    (out_dir / "concepts.txt").write_text("".join(f"{name}\n" for name in names))
    backgrounds = pa.table({"concept": names, "backgrounds": [[WORLD["background"]]] * len(names)})
    pq.write_table(backgrounds, out_dir / "backgrounds.parquet")
    write_probe_sets(out_dir / "probe")


def write_probe_sets(out_dir: Path, count: int = PROBE_IMAGES, seed: int = PROBE_SEED) -> None:
    """One ImageFolder per attribute of the world under ``out_dir``, all holding the same renders (hard links)."""
    rng = np.random.default_rng(seed)
    train = round(count * PROBE_TRAIN_FRACTION)
    for index in range(count):
        scene = world_scene(rng)
        split = "train" if index < train else "test"
        first: Path | None = None
        for attribute in WORLD_ATTRIBUTES:
            path = out_dir / attribute / split / str(getattr(scene, attribute)) / f"{index:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            if first is None:
                render(scene, PROBE_SIZE, rng).image.save(path)
                first = path
            else:
                os.link(first, path)
    for attribute in WORLD_ATTRIBUTES:  # ImageFolders need every class in every split
        for split in ("train", "test"):
            missing = [v for v in ATTRIBUTES[attribute] if not (out_dir / attribute / split / str(v)).is_dir()]
            if missing:
                raise RuntimeError(f"probe set {attribute}/{split} has no image of {missing}: raise the count")
