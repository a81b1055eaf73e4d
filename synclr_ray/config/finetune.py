"""Full fine-tuning of the encoder on a classification set (paper Appendix C, MAE/BEiT recipe via timm)."""

from pydantic import Field

from synclr_ray.config.downstream import DownstreamTrainConfig


class FinetuneConfig(DownstreamTrainConfig):
    """Defaults: the paper's ViT-B/16 ImageNet recipe (100 epochs of 1024 images, 20 of warmup)."""

    steps: int = Field(125_100, ge=1)
    batch_size: int = Field(1024, ge=1)
    lr: float = Field(2e-4, gt=0, description="Peak lr (the recipe's base lr 5e-5 x batch / 256).")
    min_lr: float = Field(1e-6, ge=0)
    warmup_steps: int = Field(25_020, ge=0)
    mixup: float = Field(0.8, ge=0, description="Mixup alpha (0 disables).")
    cutmix: float = Field(1.0, ge=0, description="CutMix alpha (0 disables).")
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    auto_augment: str | None = Field(
        "rand-m9-mstd0.5-inc1-mmax9",
        description="timm RandAugment policy (null: none). The recipe's, with magnitudes capped at 9: at 10 timm's "
        "increasing posterize keeps 0 bits, which Pillow 13 rejects.",
    )
    random_erasing: float = Field(0.25, ge=0, le=1, description="Random erasing probability.")
    ema_decay: float = Field(0.9999, ge=0, lt=1, description="Model EMA decay, also evaluated (0 disables).")
    eval_crop_pct: float = Field(0.95, gt=0, le=1, description="Centre crop share at evaluation.")
