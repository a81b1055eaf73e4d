"""Stage 3: SynCLR pretraining (recipe §3)."""

from pydantic import Field

from synclr_ray.config.base import Section


class TrainConfig(Section):
    """Model, objective, optimisation and Ray Train scaling."""

    model: str = Field("vit_base_patch16_224", description="Any timm ViT name.")
    model_kwargs: dict = Field(default_factory=dict, description="Extra timm.create_model arguments.")
    image_size: int = Field(224, ge=16)
    steps: int = Field(85_000, ge=1)
    batch_captions: int = Field(2048, ge=1, description="Captions per global batch (all their images).")
    num_workers: int = Field(1, ge=1)
    use_gpu: bool = True
