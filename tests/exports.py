"""Random-weight exports for the downstream tests (the training code paths, not learning)."""

import timm
import torch

from synclr_ray.encoder import export_encoder


def random_export(directory: str, image_size: int = 32, depth: int = 4, seed: int = 123) -> str:
    """A tiny ViT (patch 8, width 192) with seeded random weights, exported like a trained encoder."""
    torch.manual_seed(seed)
    args = {"img_size": image_size, "patch_size": 8, "depth": depth, "num_heads": 3, "embed_dim": 192}
    model = timm.create_model("vit_tiny_patch16_224", num_classes=0, **args)
    return export_encoder(model, directory, image_size=image_size, model_args=args)
