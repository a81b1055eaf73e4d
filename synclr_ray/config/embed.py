"""Offline embedding of image collections (`synclr embed-dataset`)."""

from pydantic import Field

from synclr_ray.config.base import Section
from synclr_ray.config.ray import PoolConfig


class EmbedConfig(Section):
    """A Ray Data actor pool that embeds an image collection into Parquet shards."""

    batch_size: int = Field(64, ge=1, description="Images per forward pass.")
    shard_images: int = Field(4096, ge=1, description="Images per output shard (the unit a rerun redoes).")
    num_cpus: float = Field(1.0, ge=0, description="Logical CPUs per embedding actor.")
    num_gpus: float = Field(1.0, ge=0, description="GPUs per embedding actor; the model runs on CUDA when > 0.")
    pool: PoolConfig = PoolConfig(min_size=1, max_size=8)
    normalize: bool = Field(True, description="L2-normalise the CLS embeddings (as the endpoint does by default).")
