"""The timm ViT being trained, and its masked forward for iBOT.

The mask token is kept outside the ViT (it belongs to the objective), so the backbone stays a
plain timm ``VisionTransformer`` whose state dict is exactly what timm loads.
"""

from typing import Any

import timm
import torch
from timm.models import VisionTransformer
from timm.models._manipulate import checkpoint_seq

from synclr_ray.config.train import BackboneConfig


def backbone_model_args(cfg: BackboneConfig, img_size: int) -> dict[str, Any]:
    """The ``timm.create_model`` arguments that rebuild this backbone (also written into exports)."""
    return {**cfg.kwargs, "img_size": img_size, "dynamic_img_size": True}


def create_backbone(cfg: BackboneConfig, img_size: int, drop_path: float | None = None) -> VisionTransformer:
    """A randomly initialised timm ViT without classifier; ``drop_path`` overrides the config (0 for teachers)."""
    rate = cfg.drop_path if drop_path is None else drop_path
    try:
        model = timm.create_model(
            cfg.name, pretrained=False, num_classes=0, drop_path_rate=rate, **backbone_model_args(cfg, img_size)
        )
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"train.backbone: cannot create timm model {cfg.name!r} with {cfg.kwargs}: {err}") from err
    if not isinstance(model, VisionTransformer) or not model.has_class_token:
        raise ValueError(f"train.backbone.name: {cfg.name!r} is not a timm VisionTransformer with a class token")
    return model


def patch_grid(model: VisionTransformer, img_size: int) -> tuple[int, int]:
    """Patch grid (rows, cols) of a square ``img_size`` input."""
    return tuple(model.patch_embed.dynamic_feat_size((img_size, img_size)))


def masked_forward_features(
    model: VisionTransformer, images: torch.Tensor, masks: torch.Tensor | None, mask_token: torch.Tensor | None
) -> torch.Tensor:
    """``model.forward_features`` with masked patch embeddings replaced by ``mask_token`` before the
    positional embedding. ``masks`` is ``[B, num_patches]`` bool (row-major patch order) or None.

    Returns all tokens ``[B, num_prefix_tokens + num_patches, C]``, identical to timm's forward when nothing is masked.
    """
    x = model.patch_embed(images)  # [B, H, W, C] with dynamic_img_size, else [B, N, C]
    if masks is not None:
        if mask_token is None:
            raise ValueError("masked_forward_features: masks given without a mask token")
        masks = masks.view(x.shape[:-1]).unsqueeze(-1)
        x = torch.where(masks, mask_token.to(x.dtype), x)
    x = model._pos_embed(x)
    x = model.patch_drop(x)
    x = model.norm_pre(x)
    if model.grad_checkpointing and not torch.jit.is_scripting():
        x = checkpoint_seq(model.blocks, x)
    else:
        x = model.blocks(x)
    return model.norm(x)
