"""Stage 1: captions from concepts by LLM in-context learning (recipe §1)."""

from typing import Literal

from pydantic import Field

from synclr_ray.config.base import Section
from synclr_ray.config.ray import PoolConfig


class VLLMConfig(Section):
    """Engine settings for ``ray.data.llm`` + vLLM (GPU clusters only)."""

    max_model_len: int = Field(1024, ge=128)
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    max_num_batched_tokens: int = Field(8192, ge=256)
    accelerator_type: str | None = None
    concurrency: int = Field(1, ge=1, description="Autoscaling pool of 1..concurrency vLLM replicas.")


class CaptionsConfig(Section):
    """Caption synthesis with an LLM in a Ray Data actor pool."""

    engine: Literal["vllm", "transformers"] = "vllm"
    model: str = Field(
        "meta-llama/Llama-2-7b-hf",
        description="Hub id, local directory, s3:// directory, or `tiny` for the embedded tiny Llama.",
    )
    num_captions: int = Field(10_000_000, ge=1)
    temperature: float = Field(0.8, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    max_new_tokens: int = Field(100, ge=1)
    batch_size: int = Field(64, ge=1)
    num_gpus: float = Field(1.0, ge=0)
    pool: PoolConfig = PoolConfig(min_size=1, max_size=8)
    vllm: VLLMConfig = VLLMConfig()
