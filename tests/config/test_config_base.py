"""The base of every config section: unknown keys are refused, a built section cannot change, defaults are checked."""

import pytest
from pydantic import Field, ValidationError

from synclr_ray.config.base import Section


class _Example(Section):
    size: int = Field(3, ge=1)


def test_unknown_keys_are_refused_naming_them():
    with pytest.raises(ValidationError, match="colour"):
        _Example.model_validate({"size": 2, "colour": "red"})


def test_a_built_section_is_immutable():
    section = _Example(size=2)
    with pytest.raises(ValidationError, match="frozen"):
        section.size = 5
    assert section.size == 2


def test_defaults_are_validated_too():
    class BadDefault(Section):
        size: int = Field(0, ge=1)

    with pytest.raises(ValidationError, match="size"):
        BadDefault()
