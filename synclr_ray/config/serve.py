"""The Ray Serve embedding endpoint."""

from pydantic import Field

from synclr_ray.config.base import Section


class ServeConfig(Section):
    """Batching, scaling and request limits of the embedding endpoint."""

    max_batch_size: int = Field(32, ge=1)
    batch_wait_timeout_s: float = Field(0.01, ge=0)
