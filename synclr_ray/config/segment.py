"""Semantic segmentation on an ADE20k-layout dataset (paper Table 7: UperNet, single scale, mIoU)."""

from typing import Literal

from pydantic import Field, model_validator

from synclr_ray.config.downstream import DownstreamTrainConfig


class SegmentConfig(DownstreamTrainConfig):
    """Defaults: the paper's ViT-B/16 ADE20k run (MAE's mmsegmentation UperNet config, 60k steps of 32 crops)."""

    head: Literal["upernet", "linear"] = Field(
        "upernet", description="UperNet (transformers) on 4 blocks, or a 1x1 conv on the last patch tokens."
    )
    freeze_encoder: bool = Field(False, description="Train the head only (the linear head always freezes it).")
    num_classes: int = Field(
        150, ge=2, le=255, description="Classes in the annotation masks (after reduce_zero_label; 255 is ignored)."
    )
    reduce_zero_label: bool = Field(True, description="ADE20k convention: mask value 0 is ignored, v becomes v-1.")
    crop_size: int = Field(512, ge=16, description="Training crop and sliding-window size in pixels.")
    scale_range: tuple[float, float] = Field(
        (0.5, 2.0), description="Random rescale of the short side around crop_size, before the random crop."
    )
    blocks: list[int] | None = Field(
        None, description="Encoder blocks feeding UperNet (0-based; default: the last block of each quarter)."
    )
    channels: int = Field(768, ge=8, description="Channels of the UperNet decode head.")
    auxiliary_weight: float = Field(0.4, ge=0, description="Weight of the auxiliary FCN head's loss.")
    steps: int = Field(60_000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-4, gt=0)
    warmup_steps: int = Field(1500, ge=0)

    @model_validator(mode="after")
    def _blocks(self) -> "SegmentConfig":
        if self.blocks is not None and len(self.blocks) != 4:
            raise ValueError(f"blocks must name 4 encoder blocks, got {self.blocks}")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range must be increasing and positive, got {self.scale_range}")
        return self
