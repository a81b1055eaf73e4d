from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from synclr_ray import rows
from synclr_ray.images.grid import PAD, grid_size, write_samples_grid

COLOURS = [(220, 30, 30), (30, 220, 30), (30, 30, 220), (240, 240, 30)]


def test_grid_is_a_png_with_each_caption_row_and_its_text(tmp_path: Path, image_rows: Callable[..., pa.Table]) -> None:
    root = str(tmp_path / "run")
    rows.write_rows(f"{root}/images", "part-00000", image_rows(2, COLOURS), rows.IMAGE_SCHEMA)
    rows.write_rows(f"{root}/images", "part-00001", image_rows(2, COLOURS), rows.IMAGE_SCHEMA)
    out = write_samples_grid(root, rows=3, cell=40)
    assert out == f"{root}/figures/samples.png"
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == grid_size(3, 4, 40)
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    for column, colour in enumerate(COLOURS):  # the centre of each tile shows that image
        centre = pixels[PAD + 20, PAD + column * (40 + PAD) + 20]
        assert np.abs(centre - colour).max() < 12
    text_band = pixels[PAD + 40 : PAD + 40 + 40, PAD:-PAD]
    assert (text_band < 128).any()  # the caption is written under the row


def test_grid_without_images_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run `synclr images` first"):
        write_samples_grid(str(tmp_path))
