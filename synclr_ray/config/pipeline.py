"""The streaming composition: generation feeding training directly."""

from pydantic import Field

from synclr_ray.config.base import Section


class PipelineConfig(Section):
    """Streaming-mode settings: how much is generated and whether it is also kept."""

    epochs: int = Field(
        1,
        ge=1,
        description="Generation epochs of captions.num_captions prompts each; every epoch draws fresh image seeds.",
    )
    fresh_captions: bool = Field(
        True, description="Every epoch also plans new prompts (new captions), not only new images."
    )
    write_through: bool = Field(
        False,
        description="Also write every generated image row to ROOT/stream/ (reusable by `synclr pretrain --images`).",
    )
