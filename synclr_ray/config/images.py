"""Stage 2: images from captions with Stable Diffusion 1.5 (recipe §2)."""

from typing import Literal

from pydantic import Field, field_validator

from synclr_ray.config.base import Section
from synclr_ray.config.ray import PoolConfig


class ImagesConfig(Section):
    """Image synthesis with a diffusers pipeline in a Ray Data actor pool."""

    model: str = Field(
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        description="Hub id, local directory, s3:// directory, or builtin://tiny-sd15 (the embedded tiny SD-1.5).",
    )
    images_per_caption: int = Field(4, ge=1)
    guidance_scale: float = Field(2.5, ge=1)
    scheduler: Literal["ddim", "dpmsolver++"] = Field(
        "ddim", description="DDIM (eta 0) as in the reference, or DPM-Solver++ (~25 steps) as the fast option."
    )
    num_inference_steps: int = Field(50, ge=1)
    resolution: int = Field(512, ge=8, description="Generation size in pixels (square).")
    store_size: int = Field(256, ge=8, description="Stored size in pixels (square).")
    image_format: Literal["jpeg", "webp"] = "jpeg"
    quality: int = Field(95, ge=1, le=100, description="JPEG/WebP encoder quality.")
    safety_checker: bool = Field(False, description="Run the model's safety checker (blacked-out images on hits).")
    compile: bool = Field(False, description="torch.compile the UNet (GPU; pays off on long runs).")
    batch_size: int = Field(8, ge=1, description="Captions per generation batch.")
    retries: int = Field(2, ge=0, description="Extra attempts for a failing batch before captions are tried alone.")
    shard_captions: int = Field(256, ge=1, description="Captions per output Parquet shard (the unit of resume).")
    num_gpus: float = Field(1.0, ge=0)
    num_cpus: float = Field(1.0, gt=0, description="CPUs per generator actor (also its torch thread count on CPU).")
    pool: PoolConfig = PoolConfig(min_size=1, max_size=8)

    @field_validator("resolution")
    @classmethod
    def _latent_grid(cls, value: int) -> int:
        if value % 8:
            raise ValueError("must be a multiple of 8 (the VAE works on an 8x smaller latent grid)")
        return value
