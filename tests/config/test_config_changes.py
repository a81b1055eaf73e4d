"""Which fields two configs differ in, and which of them a run root with outputs lets change."""

from synclr_ray.config import Config, load_config
from synclr_ray.config.changes import changed_fields, is_safe_to_change


def test_changed_fields_names_the_differing_leaves_in_declaration_order():
    before = load_config("tiny")
    after = load_config("tiny", ["train.optim.lr=0.5", "seed=3", "train.steps=700"])
    assert changed_fields(before, before) == []
    assert changed_fields(before, after) == ["seed", "train.optim.lr", "train.steps"]


def test_safety_is_inherited_from_a_marked_section_and_unknown_fields_are_unsafe():
    assert is_safe_to_change(Config, "train.steps")  # how long to train does not change what was produced
    assert not is_safe_to_change(Config, "train.optim.lr")
    assert not is_safe_to_change(Config, "images.guidance_scale")  # the images already drawn depend on it
    assert not is_safe_to_change(Config, "train.no_such_field")
