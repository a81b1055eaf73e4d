"""The procedural segmentation set: toy-world scenes in ADE20k's layout, labelled where each shape is drawn."""

import numpy as np
import pytest
from PIL import Image

from synclr_ray.segment.synthetic import NUM_CLASSES, draw_scene, write_segmentation_set
from synclr_ray.toyworld.catalog import COLOURS, SHAPES


@pytest.fixture
def scenes(tmp_path) -> str:
    return write_segmentation_set(str(tmp_path / "ade"), train=4, val=2, size=32)


def test_procedural_set_has_the_ade20k_layout_and_labels(scenes, tmp_path):
    names = sorted(p.stem for p in (tmp_path / "ade" / "images" / "training").iterdir())
    assert names == sorted(p.stem for p in (tmp_path / "ade" / "annotations" / "training").iterdir())
    assert len(names) == 4 and len(list((tmp_path / "ade" / "images" / "validation").iterdir())) == 2
    masks = [np.array(Image.open(p)) for p in (tmp_path / "ade" / "annotations" / "training").iterdir()]
    values = set(np.unique(np.concatenate([m.ravel() for m in masks])).tolist())
    assert 1 in values and len(values) >= 2  # background and at least one shape
    assert values <= set(range(1, NUM_CLASSES + 1))  # 1 background, 2.. shapes


def test_a_drawn_shape_is_labelled_where_it_is_drawn():
    image, mask = draw_scene(np.random.default_rng(3), 64, shape="triangle", texture="plain", colour="red", count=1)
    pixels = np.asarray(image, dtype=float)
    triangle = pixels[mask == 2 + SHAPES.index("triangle")]
    assert len(triangle) > 100 and set(np.unique(mask)) == {1, 2 + SHAPES.index("triangle")}
    assert triangle.mean(0)[0] > 150 and triangle.mean(0)[1] < 90  # red where the mask says triangle


def test_colour_labels_mark_the_same_pixels_with_the_colour_class():
    by_shape = draw_scene(np.random.default_rng(4), 64, shape="star", colour="blue")[1]
    image, by_colour = draw_scene(np.random.default_rng(4), 64, "colour", shape="star", colour="blue")
    assert np.array_equal(by_colour, np.where(by_shape > 1, 2 + list(COLOURS).index("blue"), 1))
    assert (by_colour > 1).sum() > 50
