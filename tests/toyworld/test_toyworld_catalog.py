import numpy as np
import pytest

from synclr_ray.toyworld.catalog import (
    ATTRIBUTES,
    COLOURS,
    SHAPES,
    WORLD,
    WORLD_ATTRIBUTES,
    Scene,
    concepts,
    parse_attributes,
    sample_scene,
    scene_of,
    world_scene,
)


def test_concepts_are_every_colour_shape_pair_and_name_their_scene():
    names = concepts()
    assert len(names) == len(set(names)) == len(COLOURS) * len(SHAPES)
    for name in names:
        scene = scene_of(name, size="small", count=2)
        assert scene.concept == name and scene.size == "small" and scene.count == 2


@pytest.mark.parametrize(
    ("attribute", "value"), [("shape", "pentagon"), ("colour", "teal"), ("count", 4), ("background", "moon")]
)
def test_a_value_outside_the_catalog_is_refused_naming_the_attribute(attribute, value):
    fields = {"shape": "circle", "colour": "red", attribute: value}
    with pytest.raises(ValueError, match=f"toy scene {attribute} {value!r} is not in the catalog"):
        Scene(**fields)


def test_sampling_is_seeded_keeps_fixed_attributes_and_covers_the_catalog():
    first = [sample_scene(np.random.default_rng(7)) for _ in range(3)]
    assert len(set(first)) == 1  # same seed, same scene
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng, colour="blue", count=1) for _ in range(400)]
    assert {s.colour for s in scenes} == {"blue"} and {s.count for s in scenes} == {1}
    for name in ("shape", "size", "texture", "background"):
        assert {getattr(s, name) for s in scenes} == set(ATTRIBUTES[name])
    with pytest.raises(ValueError, match="unknown toy scene attribute"):
        sample_scene(rng, hue="red")


def test_world_scenes_vary_only_the_world_attributes_and_keep_what_is_given():
    rng = np.random.default_rng(0)
    scenes = [world_scene(rng) for _ in range(200)]
    for name in WORLD_ATTRIBUTES:
        assert {getattr(s, name) for s in scenes} == set(ATTRIBUTES[name])
    assert all(s.attributes().items() >= WORLD.items() for s in scenes)
    assert {world_scene(rng, size="small").size for _ in range(20)} == {"small"}


def test_attribute_pairs_parse_to_catalog_values_and_bad_ones_are_named():
    fixed = parse_attributes(["size=large", "count=1", "background=grey wall"])
    assert fixed == {"size": "large", "count": 1, "background": "grey wall"}
    assert sample_scene(np.random.default_rng(0), **fixed).count == 1
    with pytest.raises(ValueError, match=r"'count=4'.*known: 1, 2, 3"):
        parse_attributes(["count=4"])
    with pytest.raises(ValueError, match=r"'hue=red'.*known: attributes shape, colour"):
        parse_attributes(["hue=red"])
