"""Stage 3: SynCLR pretraining (recipe §3). Defaults are the paper's ViT-B/16 ablation values."""

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from synclr_ray.config.base import Section
from synclr_ray.config.changes import SAFE_TO_CHANGE


class BackboneConfig(Section):
    """The timm ViT being trained."""

    name: str = Field("vit_base_patch16_224", description="Any timm ViT name.")
    kwargs: dict = Field(default_factory=dict, description="Extra timm.create_model arguments (e.g. depth).")
    drop_path: float = Field(0.1, ge=0, lt=1)


class CropsConfig(Section):
    """Multi-crop: 1 global + n local crops per image, BYOL-style augmentation."""

    global_size: int = Field(224, ge=16)
    global_scale: tuple[float, float] = (0.32, 1.0)
    local_size: int = Field(96, ge=8)
    local_scale: tuple[float, float] = (0.08, 0.32)
    num_local: int = Field(4, ge=0, description="Local crops per image; 0 disables multi-crop.")
    hue: float = Field(0.1, ge=0, le=0.5, description="Colour jitter's largest hue shift, in turns (BYOL: 0.1).")
    grayscale_p: float = Field(0.2, ge=0, le=1, description="Probability that a crop is made grayscale (BYOL: 0.2).")
    downsample_p: float = Field(
        0.05, ge=0, le=1, description="Probability of down-up-sampling the whole image before cropping (StableRep)."
    )
    downsample_sizes: tuple[PositiveInt, ...] = Field(
        (64, 128),
        min_length=1,
        description="Short sides it downsamples to, with equal odds (StableRep: 256 px images).",
    )


class MaskConfig(Section):
    """iBOT masking of global crops."""

    image_prob: float = Field(0.5, ge=0, le=1, description="Fraction of images in a batch that get masked.")
    ratio: float = Field(0.5, gt=0, lt=1, description="Fraction of patch tokens masked in a masked image.")
    mode: Literal["random", "block"] = "random"


class HeadsConfig(Section):
    """Contrastive projector/predictor (LayerNorm + GELU MLPs, as the SynCLR code) and the DINO-style iBOT head."""

    proj_hidden: int = Field(4096, ge=1)
    proj_out: int = Field(256, ge=1)
    pred_hidden: int = Field(4096, ge=1)
    ibot_hidden: int = Field(2048, ge=1)
    ibot_bottleneck: int = Field(256, ge=1)
    prototypes: int = Field(65536, ge=2)


class LossConfig(Section):
    """Objective terms and ablation switches (paper Tables 4 and 5)."""

    positives: Literal["caption", "image"] = "caption"
    ema_teacher: bool = True
    ibot: bool = True
    contrastive_temp: float = Field(0.08, gt=0)
    student_temp: float = Field(0.1, gt=0)
    teacher_temp_start: float = Field(0.04, gt=0)
    teacher_temp_end: float = Field(0.07, gt=0)
    teacher_temp_warmup_steps: int = Field(4000, ge=0)
    sinkhorn_iterations: int = Field(3, ge=1)


class OptimConfig(Section):
    """AdamW with linear warmup + cosine lr, cosine weight decay and EMA momentum."""

    lr: float = Field(2e-3, gt=0, description="Peak learning rate.")
    min_lr: float = Field(1e-6, ge=0)
    warmup_steps: int = Field(5000, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay_start: float = Field(0.04, ge=0)
    weight_decay_end: float = Field(0.2, ge=0)
    momentum_start: float = Field(0.994, ge=0, le=1)
    momentum_end: float = Field(1.0, ge=0, le=1)
    grad_clip: float = Field(3.0, ge=0, description="Max gradient norm; 0 disables clipping.")


class TrainConfig(Section):
    """Model, objective, optimisation and Ray Train scaling."""

    backbone: BackboneConfig = BackboneConfig()
    crops: CropsConfig = CropsConfig()
    mask: MaskConfig = MaskConfig()
    heads: HeadsConfig = HeadsConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    steps: int = Field(85_000, ge=1, json_schema_extra=SAFE_TO_CHANGE)
    batch_captions: int = Field(2048, ge=1, description="Captions per global batch, each with all its images.")
    num_workers: int = Field(1, ge=1, description="Ray Train workers (DDP ranks).")
    use_gpu: bool = True
    cpus_per_worker: float = Field(1.0, gt=0)
    loader_tasks: int = Field(8, ge=1, description="Ray tasks (1 CPU each) decoding and cropping one rank's batch.")
    prefetch_batches: int = Field(2, ge=1, description="Batches per rank cropped ahead of the training step.")
    shuffle_window: int = Field(
        2048, ge=1, description="Stored rows shuffled together each epoch (whole row groups, read by one Ray task)."
    )
    precision: Literal["bf16", "fp32"] = "bf16"
    checkpoint_every: int = Field(1000, ge=1, json_schema_extra=SAFE_TO_CHANGE)
    keep_checkpoints: int = Field(2, ge=1, json_schema_extra=SAFE_TO_CHANGE)
    max_failures: int = Field(3, ge=0, json_schema_extra=SAFE_TO_CHANGE)
    log_every: int = Field(50, ge=1, json_schema_extra=SAFE_TO_CHANGE)
    max_consecutive_nonfinite: int = Field(
        10, ge=1, description="Non-finite losses in a row (each step skipped) before training stops."
    )
    max_bad_fraction: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Undecodable images allowed, as a fraction of the images the run reads; beyond it training stops.",
    )
    test_nan_loss_steps: tuple[int, ...] = Field(
        (), description="Test hook: the loss of these steps (1-based) is made NaN, to exercise the non-finite guard."
    )

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.batch_captions % self.num_workers:
            raise ValueError(
                f"batch_captions ({self.batch_captions}) must be divisible by num_workers ({self.num_workers})"
            )
        if self.optim.warmup_steps >= self.steps and self.steps > 1:
            raise ValueError(f"optim.warmup_steps ({self.optim.warmup_steps}) must be below steps ({self.steps})")
        return self
