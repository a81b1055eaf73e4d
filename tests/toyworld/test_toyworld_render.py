import numpy as np
import pytest

from synclr_ray.toyworld.catalog import BACKGROUNDS, COLOURS, SHAPES, Scene, sample_scene
from synclr_ray.toyworld.render import Nuisance, render

EXACT = Nuisance(max_rotation=0, scale_jitter=0, colour_jitter=0, lighting=0, noise=0, random_position=False)


def test_same_seed_same_image_other_seed_other_nuisance():
    scene = Scene("star", "green", background="sandy beach")
    a, b, c = render(scene, rng=3), render(scene, rng=3), render(scene, rng=4)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and np.array_equal(a.instances, b.instances)
    assert not np.array_equal(a.instances, c.instances)  # moved, turned or rescaled


def test_masks_label_each_object_and_its_shape_class():
    rng = np.random.default_rng(0)
    for _ in range(40):
        scene = sample_scene(rng, size="large")
        out = render(scene, 64, rng)
        assert out.image.size == (64, 64) and out.instances.shape == out.classes.shape == (64, 64)
        assert set(np.unique(out.instances)) == set(range(scene.count + 1))  # every object visible
        expected = np.where(out.instances > 0, 1 + SHAPES.index(scene.shape), 0)
        assert np.array_equal(out.classes, expected)


@pytest.mark.parametrize("colour", list(COLOURS))
def test_object_pixels_show_the_named_colour_and_background_pixels_the_named_background(colour):
    rng = np.random.default_rng(0)
    for background in BACKGROUNDS:
        out = render(Scene("square", colour, background=background), 64, rng)
        pixels = np.asarray(out.image, dtype=float)
        inside = np.median(pixels[out.instances > 0], axis=0)
        assert min(COLOURS, key=lambda c: np.linalg.norm(np.array(COLOURS[c]) - inside)) == colour
        outside = np.median(pixels[out.instances == 0], axis=0)
        assert min(BACKGROUNDS, key=lambda b: np.linalg.norm(np.array(BACKGROUNDS[b]) - outside)) == background


def test_sizes_and_shapes_are_distinct_silhouettes():
    area = {
        size: (render(Scene("circle", "red", size=size), 64, 0, EXACT).instances > 0).sum()
        for size in ("small", "large")
    }
    assert area["large"] > 2 * area["small"]  # widths 75% and 50% of the image
    masks = {shape: render(Scene(shape, "red"), 64, 0, EXACT).instances > 0 for shape in SHAPES}
    for i, first in enumerate(SHAPES):
        for second in SHAPES[i + 1 :]:
            overlap = (masks[first] & masks[second]).sum() / (masks[first] | masks[second]).sum()
            assert overlap < 0.85, (first, second, overlap)
    rows, columns = np.nonzero(masks["square"])
    assert abs(rows.mean() - 31.5) < 1 and abs(columns.mean() - 31.5) < 1  # no nuisance: centred, upright
    assert masks["square"].sum() / ((np.ptp(rows) + 1) * (np.ptp(columns) + 1)) > 0.95


def test_textures_pattern_the_object():
    spread = {}
    for texture in ("plain", "striped", "dotted"):
        out = render(Scene("square", "blue", texture=texture), 64, 0, EXACT)
        assert out.instances[20:44, 20:44].all()  # the centre lies inside the large square
        spread[texture] = np.asarray(out.image, dtype=float)[20:44, 20:44].std(axis=(0, 1)).mean()
    assert spread["plain"] < 5 < spread["striped"] and spread["dotted"] > 5


def test_small_images_are_refused():
    with pytest.raises(ValueError, match="at least 16 pixels"):
        render(Scene("circle", "red"), 8)
