"""Settings every downstream Ray Train run shares (fine-tuning, segmentation): schedule, optimiser, scaling."""

from typing import Literal

from pydantic import Field, model_validator

from synclr_ray.config.base import Section


class DownstreamTrainConfig(Section):
    """AdamW with layer-wise lr decay (timm param groups), warmup then decay (timm schedulers), DDP on Ray Train."""

    steps: int = Field(1000, ge=1, description="Optimiser steps of the whole schedule.")
    batch_size: int = Field(32, ge=1, description="Images per global batch (divided among the workers).")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate of the last layer (and the heads).")
    min_lr: float = Field(0.0, ge=0)
    warmup_steps: int = Field(100, ge=0)
    weight_decay: float = Field(0.05, ge=0)
    layer_decay: float = Field(0.65, gt=0, le=1, description="lr scale per transformer block towards the input.")
    drop_path: float = Field(0.1, ge=0, lt=1, description="Stochastic depth rate of the encoder.")
    num_workers: int = Field(1, ge=1, description="Ray Train workers (DDP ranks).")
    use_gpu: bool = True
    cpus_per_worker: float = Field(1.0, gt=0)
    precision: Literal["bf16", "fp32"] = Field("bf16", description="Autocast dtype on GPUs; CPUs train in fp32.")
    loader_tasks: int = Field(4, ge=1, description="Ray tasks (1 CPU each) decoding and augmenting one rank's batch.")
    prefetch_batches: int = Field(2, ge=1, description="Batches per rank augmented ahead of the training step.")
    shuffle_buffer: int = Field(1000, ge=1, description="Rows of the per-epoch local shuffle on each rank.")
    checkpoint_every: int = Field(1000, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    max_failures: int = Field(3, ge=0)
    log_every: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "DownstreamTrainConfig":
        if self.batch_size % self.num_workers:
            raise ValueError(f"batch_size ({self.batch_size}) must be divisible by num_workers ({self.num_workers})")
        if self.warmup_steps >= self.steps and self.steps > 1:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below steps ({self.steps})")
        return self
