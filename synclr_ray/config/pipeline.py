"""The streaming composition: generation feeding training directly."""

from pydantic import Field

from synclr_ray.config.base import Section


class PipelineConfig(Section):
    """Streaming-mode settings; the stream's length follows from the training run (train.steps x train.batch_captions)."""

    caption_cycle: int | None = Field(
        None,
        ge=1,
        description="Reuse the first N planned captions, each pass (generation epoch) drawing fresh images; "
        "default: every streamed caption is new.",
    )
    write_through: bool = Field(
        False,
        description="Also write every generated image row to ROOT/stream/ (reusable by `synclr pretrain --images`, "
        "and replayed instead of drawn again when a crashed run resumes).",
    )
