"""Evaluation: frozen-feature linear probe, kNN and PCA figures (recipe §4)."""

from pydantic import Field, field_validator

from synclr_ray.config.base import Section
from synclr_ray.config.ray import PoolConfig


class EvalConfig(Section):
    """Feature extraction, probe and figure settings."""

    batch_size: int = Field(64, ge=1, description="Images per feature-extraction batch.")
    num_gpus: float = Field(1.0, ge=0, description="GPUs per feature-extraction actor.")
    pool: PoolConfig = PoolConfig(min_size=1, max_size=8)
    knn_k: int = Field(20, ge=1, description="Neighbours of the cosine kNN classifier.")
    probe_cs: list[float] = Field(
        default_factory=lambda: [10.0**e for e in range(-4, 5)],
        description="Inverse regularisation strengths C swept on the validation split.",
    )
    val_fraction: float = Field(
        0.2, gt=0, lt=1, description="Stratified share of train held out to pick C when the dataset has no val/."
    )
    max_iter: int = Field(1000, ge=1, description="L-BFGS iterations per logistic regression fit.")
    pca_threshold: float = Field(
        0.5, gt=0, lt=1, description="Foreground cut on the first PCA component, rescaled to [0, 1]."
    )
    pca_tile: int = Field(224, ge=16, description="Pixel size of one cell of the PCA figure.")

    @field_validator("probe_cs")
    @classmethod
    def _positive_cs(cls, cs: list[float]) -> list[float]:
        if not cs or min(cs) <= 0:
            raise ValueError("must be a non-empty list of positive numbers")
        return cs
