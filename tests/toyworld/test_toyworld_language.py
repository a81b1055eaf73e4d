import numpy as np
import pytest

from synclr_ray.toyworld.catalog import sample_scene
from synclr_ray.toyworld.language import describe, named_attributes


def test_a_caption_names_exactly_the_scene_it_describes():
    rng = np.random.default_rng(0)
    for _ in range(300):
        scene = sample_scene(rng)
        expected = {k: v for k, v in scene.attributes().items() if not (k == "texture" and v == "plain")}
        caption = describe(scene, rng)
        assert named_attributes(caption) == expected, caption
        assert caption[0].isupper() and caption.endswith(".")


def test_omitted_attributes_go_unsaid_and_the_rest_stay():
    rng = np.random.default_rng(1)
    scene = sample_scene(rng, texture="striped", count=3)
    said = named_attributes(describe(scene, rng, omit=("size", "background")))
    assert said == {"colour": scene.colour, "shape": scene.shape, "texture": "striped", "count": 3}
    said = named_attributes(describe(scene, rng, omit=("colour", "texture")))
    assert said == {"shape": scene.shape, "size": scene.size, "count": 3, "background": scene.background}
    with pytest.raises(ValueError, match="can go unsaid"):
        describe(scene, rng, omit=("shape",))


def test_reads_what_a_free_form_caption_names():
    said = named_attributes("An orange heart rests in the middle of a snowy field at dawn.")
    assert said == {"colour": "orange", "shape": "heart", "count": 1, "background": "snowy field"}
    assert named_attributes("Two tiny stars above the sea")["count"] == 2
    assert named_attributes("A tiger walks through tall grass.") == {}
