"""A small procedural segmentation set in the ADE20k layout: real images and masks without any download.

Each image is a textured background (class 1) with 1-3 shapes (classes 2-4: disc, square,
triangle) in random colours, so a shape's class is told by its outline, not its colour. Shapes are
drawn at 4x and averaged down: pixels a shape half-covers are label 0, which the ADE20k convention
(``segment.reduce_zero_label``) ignores, like ADE20k's unlabelled pixels. After that reduction the
set has 4 classes.
"""

import io

import numpy as np
from PIL import Image, ImageDraw

from synclr_ray import storage

SHAPES = ("disc", "square", "triangle")
NUM_CLASSES = 1 + len(SHAPES)  # background + shapes, after reduce_zero_label
SUPERSAMPLE = 4


def draw_scene(rng: np.random.Generator, size: int, shapes: list[int] | None = None) -> tuple[Image.Image, np.ndarray]:
    """One RGB image and its ADE20k-style mask (0 unlabelled, 1 background, 2.. shapes).

    ``shapes`` (indices into `SHAPES`) are drawn in that order; by default 1-3 random ones.
    """
    big = size * SUPERSAMPLE
    y, x = np.mgrid[0:size, 0:size] / size
    base, other = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    stripes = 0.5 + 0.5 * np.sin(
        2 * np.pi * rng.uniform(1, 4) * (x * np.cos(a := rng.uniform(0, np.pi)) + y * np.sin(a))
    )
    pixels = base + 0.35 * stripes[..., None] * (other - base)
    mask = np.ones((size, size), dtype=np.uint8)
    if shapes is None:
        shapes = [int(s) for s in rng.integers(len(SHAPES), size=rng.integers(1, 4))]
    for shape in shapes:
        radius = rng.uniform(0.12, 0.25) * big
        cx, cy = rng.uniform(radius, big - radius, 2)
        layer = Image.new("L", (big, big), 0)
        draw = ImageDraw.Draw(layer)
        if SHAPES[shape] == "disc":
            draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
        elif SHAPES[shape] == "square":
            draw.regular_polygon((cx, cy, radius), 4, rotation=rng.uniform(0, 90), fill=255)
        else:
            draw.regular_polygon((cx, cy, radius), 3, rotation=rng.uniform(0, 120), fill=255)
        coverage = np.asarray(layer.resize((size, size), Image.Resampling.BOX), dtype=np.float64) / 255
        pixels = pixels * (1 - coverage[..., None]) + rng.uniform(0, 255, 3) * coverage[..., None]
        mask[coverage > 0.75] = 2 + shape
        mask[(coverage > 0.25) & (coverage <= 0.75)] = 0
    noisy = pixels + rng.normal(0, 4, pixels.shape)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8)), mask


def write_segmentation_set(uri: str, train: int, val: int, size: int = 64, seed: int = 0) -> str:
    """Write ``train`` + ``val`` scenes as ``images/{training,validation}/*.jpg`` and ``annotations/.../*.png``."""
    rng = np.random.default_rng(seed)
    for folder, count in (("training", train), ("validation", val)):
        for index in range(count):
            image, mask = draw_scene(rng, size)
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
