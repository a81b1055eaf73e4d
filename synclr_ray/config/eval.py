"""Evaluation: frozen-feature linear probe and kNN (recipe §4)."""

from pydantic import Field

from synclr_ray.config.base import Section


class EvalConfig(Section):
    """Feature extraction and probe settings."""

    batch_size: int = Field(64, ge=1)
    knn_k: int = Field(20, ge=1)
