"""The streaming composition: generation feeding training directly."""

from pydantic import Field

from synclr_ray.config.base import Section


class PipelineConfig(Section):
    """Streaming-mode settings."""

    epochs: int = Field(1, ge=1)
    write_through: bool = Field(False, description="Also write every generated row to ROOT/images/.")
