"""Image rows for the training tests: captions whose 4 images share a structure (a grating), not a colour."""

import io
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGES_PER_CAPTION = 4


def grating(orientation: float, frequency: float, phase: float, colour: np.ndarray, size: int) -> Image.Image:
    """A sinusoidal grating in a random colour over the opposite colour."""
    y, x = np.mgrid[0:size, 0:size] / size
    wave = 0.5 + 0.5 * np.sin(2 * math.pi * frequency * (x * math.cos(orientation) + y * math.sin(orientation)) + phase)
    pixels = wave[..., None] * colour + (1 - wave[..., None]) * (1.0 - colour)
    return Image.fromarray((255 * pixels).astype(np.uint8))


def caption_structure(num_captions: int) -> list[tuple[float, float]]:
    """(orientation, frequency) of each caption: 8 orientations x frequencies 2, 4, 6, ..."""
    return [(math.pi * (c % 8) / 8, 2.0 + 2 * (c // 8)) for c in range(num_captions)]


def caption_images(num_captions: int, size: int = 64, seed: int = 0) -> list[list[Image.Image]]:
    """4 images per caption: the caption's grating with a random phase and colour each."""
    rng = np.random.default_rng(seed)
    return [
        [grating(o, f, rng.uniform(0, 2 * math.pi), rng.uniform(0, 1, 3), size) for _ in range(IMAGES_PER_CAPTION)]
        for o, f in caption_structure(num_captions)
    ]


def encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def image_rows(num_captions: int, size: int = 64, seed: int = 0) -> pa.Table:
    """Rows in the images stage's format: one caption with its 4 encoded images per row."""
    rows = []
    for c, images in enumerate(caption_images(num_captions, size, seed)):
        rows.append({
            "caption_id": f"cap-{c:05d}", "caption": f"a grating number {c}", "concept": f"grating {c}",
            "concept_source": "test", "template": "c -> caption", "images": [encode(i) for i in images],
            "seeds": list(range(IMAGES_PER_CAPTION)), "width": size, "height": size, "generator": "test-gratings",
        })  # fmt: skip
    return pa.Table.from_pylist(rows)


def write_image_rows(directory: Path, num_captions: int, files: int = 2, size: int = 64, seed: int = 0) -> Path:
    """Write image rows as ``files`` Parquet files under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    table = image_rows(num_captions, size, seed)
    per_file = -(-num_captions // files)
    for index in range(files):
        pq.write_table(table.slice(index * per_file, per_file), directory / f"part-{index:03d}.parquet")
    return directory
