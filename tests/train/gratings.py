"""Image rows for the training tests, with a known caption structure that survives SynCLR's augmentations.

A caption is a grating pattern: one of 5 kinds (vertical, horizontal, plaid, checker, rings; all
unchanged by a horizontal flip) at one of 2 frequencies two octaves apart (so a random resized crop
cannot turn one into another). Its images differ in phase and colour, which random features
are most sensitive to. Captions beyond 10 repeat the structure.
"""

import io
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from synclr_ray import rows

IMAGES_PER_CAPTION = 4
KINDS = ("vertical", "horizontal", "plaid", "checker", "rings")
FREQUENCIES = (1.5, 6.0)  # cycles per image
DISTINCT_CAPTIONS = len(KINDS) * len(FREQUENCIES)


def grating(kind: str, frequency: float, phase: float, colour: np.ndarray, size: int) -> Image.Image:
    """A grating of ``kind`` in ``colour`` over the opposite colour."""
    y, x = np.mgrid[0:size, 0:size] / size

    def wave(u: np.ndarray) -> np.ndarray:
        return 0.5 + 0.5 * np.sin(2 * math.pi * frequency * u + phase)

    pattern = {
        "vertical": lambda: wave(x),
        "horizontal": lambda: wave(y),
        "plaid": lambda: 0.5 * (wave(x) + wave(y)),
        "checker": lambda: wave(x) * wave(y),
        "rings": lambda: wave(np.hypot(x - 0.5, y - 0.5)),
    }[kind]()[..., None]
    pixels = pattern * colour + (1 - pattern) * (1.0 - colour)
    return Image.fromarray((255 * pixels).astype(np.uint8))


def caption_structure(num_captions: int) -> list[tuple[str, float]]:
    """(kind, frequency) of each caption."""
    return [(KINDS[c % len(KINDS)], FREQUENCIES[c // len(KINDS) % len(FREQUENCIES)]) for c in range(num_captions)]


def caption_images(
    num_captions: int, size: int = 64, seed: int = 0, per_caption: int = IMAGES_PER_CAPTION
) -> list[list[Image.Image]]:
    """``per_caption`` images per caption: the caption's grating with a random phase and colour each."""
    rng = np.random.default_rng(seed)
    return [
        [grating(kind, freq, rng.uniform(0, 2 * math.pi), rng.uniform(0, 1, 3), size) for _ in range(per_caption)]
        for kind, freq in caption_structure(num_captions)
    ]


def encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def image_rows(num_captions: int, size: int = 64, seed: int = 0, per_caption: int = IMAGES_PER_CAPTION) -> pa.Table:
    """Image rows (`rows.IMAGE_SCHEMA`): one caption with its ``per_caption`` encoded images per row."""
    records = [
        {"caption_id": f"cap-{c:05d}", "index": c, "epoch": 0, "caption": f"a grating number {c}",
         "concept": f"grating {c}", "concept_source": "test", "template": "c -> caption", "seed": c,
         "images": [encode(i) for i in images], "seeds": list(range(per_caption)), "width": size,
         "height": size, "generator": "test-gratings"}
        for c, images in enumerate(caption_images(num_captions, size, seed, per_caption))
    ]  # fmt: skip
    return rows.to_table(records, rows.IMAGE_SCHEMA)


def write_image_rows(directory: Path, num_captions: int, files: int = 2, size: int = 64, seed: int = 0) -> Path:
    """Write image rows as ``files`` committed Parquet files under ``directory``."""
    table = image_rows(num_captions, size, seed)
    per_file = -(-num_captions // files)
    for index in range(files):
        rows.write_rows(str(directory), f"part-{index:03d}", table.slice(index * per_file, per_file), rows.IMAGE_SCHEMA)
    return directory
