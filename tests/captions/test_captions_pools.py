"""The in-context example pools: every template and concept group has its pool of ``query => caption`` lines."""

import pytest

from synclr_ray.captions.pools import POOLS, SEPARATOR, load_pool, pool_name


def test_every_pool_loads_nonempty_unique_example_lines():
    for name in POOLS:
        lines = load_pool(name)
        assert len(lines) >= 10, name
        assert len(set(lines)) == len(lines), f"{name} repeats an example"
        assert all(SEPARATOR in line for line in lines), name


def test_the_c_template_has_a_pool_per_concept_group_and_the_others_one_each():
    assert pool_name("c", "object") == "c_object"
    assert pool_name("c", "place") == "c_place"
    assert pool_name("c", "texture") == "c_texture"
    assert pool_name("c_bg", "object") == "c_bg" and pool_name("c_rel", "object") == "c_rel"
    assert {pool_name(t, g) for t in ("c", "c_bg", "c_rel") for g in ("object", "place", "texture")} < set(POOLS)


def test_an_unknown_pool_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown example pool 'c_nope'.*c_object"):
        load_pool("c_nope")
