"""bench/ablation.py's data: toy-world image rows that `synclr pretrain` reads, each caption with 4 renders."""

import importlib.util
import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from synclr_ray import rows
from synclr_ray.toyworld.language import named_attributes

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "ablation.py"


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("bench_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_toy_rows_are_committed_image_rows(ablation, tmp_path):
    folder = ablation.write_toy_rows(tmp_path / "images", captions=6, size=32, seed=0, files=2)
    files = rows.committed_files(str(folder), "image rows", "")  # what pretrain reads
    assert len(files) == 2
    table = pq.read_table(files[0])
    assert table.schema.equals(rows.IMAGE_SCHEMA, check_metadata=False) and table.num_rows == 3
    images = table.column("images")[0].as_py()
    assert len(images) == 4 and len(set(images)) == 4  # renders that differ in what the caption does not say
    assert Image.open(io.BytesIO(images[0])).size == (32, 32)


def test_toy_rows_keep_the_fixed_attributes(ablation, tmp_path):
    folder = ablation.write_toy_rows(tmp_path / "images", captions=8, size=32, seed=0, files=1, fixed={"shape": "star"})
    table = pq.read_table(rows.committed_files(str(folder), "image rows", "")[0])
    assert set(table.column("concept").to_pylist()) == {"star"}
    assert all("star" in caption for caption in table.column("caption").to_pylist())


def _object_colours(row_images: list[bytes]) -> np.ndarray:
    """The mean RGB of each image's saturated pixels (the object: the grey wall behind it is unsaturated)."""
    colours = []
    for data in row_images:
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float).reshape(-1, 3)
        colours.append(pixels[np.ptp(pixels, axis=1) > 80].mean(axis=0))
    return np.array(colours)


@pytest.mark.parametrize("unsaid", [{}, {"colour": 1.0}])
def test_toy_rows_draw_what_the_caption_leaves_unsaid_per_image(ablation, tmp_path, unsaid):
    fixed = {"size": "large", "count": 1, "texture": "plain", "background": "grey wall"}
    folder = ablation.write_toy_rows(tmp_path / "images", captions=8, size=32, seed=0, files=1, fixed=fixed,
                                     unsaid=unsaid)  # fmt: skip
    table = pq.read_table(rows.committed_files(str(folder), "image rows", "")[0])
    named = [named_attributes(caption) for caption in table.column("caption").to_pylist()]
    assert all(("colour" in n) == (not unsaid) for n in named)
    spread = max(np.ptp(_object_colours(images), axis=0).max() for images in table.column("images").to_pylist())
    assert spread > 80 if unsaid else spread < 40, spread


def test_unsaid_shares_are_parsed_and_bad_ones_are_named(ablation):
    assert ablation.parse_shares(["colour=1", "size=0.25"]) == {"colour": 1.0, "size": 0.25}
    for bad in ("shape=0.5", "colour=2", "colour=x"):
        with pytest.raises(ValueError, match=bad):
            ablation.parse_shares([bad])
