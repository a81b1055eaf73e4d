"""The base class every config section derives from."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: typed, validated, unknown keys rejected, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
