"""A small segmentation set in the ADE20k layout, drawn by the toy world's renderer: no download needed.

Each image is a random toy-world scene (1-3 copies of one shape, any colour, size, texture and
background, with the renderer's per-image nuisance); its per-pixel class mask becomes the
annotation in ADE20k's convention: 1 for the background, 2.. for the objects' shapes (in
`synclr_ray.toyworld.catalog.SHAPES` order) or, with ``label="colour"``, their colours (in
``COLOURS`` order), 0 (unlabelled, ignored) unused. After ``segment.reduce_zero_label`` the set
has `NUM_CLASSES` classes either way.
"""

import io
from typing import Literal

import numpy as np
from PIL import Image

from synclr_ray import storage
from synclr_ray.toyworld.catalog import COLOURS, SHAPES, sample_scene
from synclr_ray.toyworld.render import render

NUM_CLASSES = 1 + len(SHAPES)  # background + shapes (or colours: as many), after reduce_zero_label
Label = Literal["shape", "colour"]


def draw_scene(
    rng: np.random.Generator, size: int, label: Label = "shape", **fixed: str | int
) -> tuple[Image.Image, np.ndarray]:
    """One RGB image of a random scene (attributes in ``fixed`` held) and its ADE20k-style annotation,
    whose objects are labelled by their ``label`` attribute."""
    scene = sample_scene(rng, **fixed)
    rendering = render(scene, size, rng)
    classes = rendering.classes
    if label == "colour":
        classes = np.where(rendering.instances > 0, 1 + list(COLOURS).index(scene.colour), 0)
    return rendering.image, (classes + 1).astype(np.uint8)


def write_segmentation_set(
    uri: str, train: int, val: int, size: int = 64, seed: int = 0, label: Label = "shape"
) -> str:
    """Write ``train`` + ``val`` scenes as ``images/{training,validation}/*.jpg`` and ``annotations/.../*.png``
    (objects labelled by ``label``)."""
    rng = np.random.default_rng(seed)
    for folder, count in (("training", train), ("validation", val)):
        for index in range(count):
            image, mask = draw_scene(rng, size, label)
            name = f"scene_{folder}_{index:05d}"
            storage.write_bytes(storage.join(uri, "images", folder, f"{name}.jpg"), _encode(image, "JPEG"))
            storage.write_bytes(
                storage.join(uri, "annotations", folder, f"{name}.png"), _encode(Image.fromarray(mask), "PNG")
            )
    return uri


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()
