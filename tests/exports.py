"""Random-weight exports for the downstream tests (the training code paths, not learning)."""

import json
from pathlib import Path

import timm
import torch

from synclr_ray.encoder import export_encoder


def random_export(directory: str, image_size: int = 32, depth: int = 4, seed: int = 123) -> str:
    """A tiny ViT (patch 8, width 192) with seeded random weights, exported like a trained encoder."""
    torch.manual_seed(seed)
    args = {"img_size": image_size, "patch_size": 8, "depth": depth, "num_heads": 3, "embed_dim": 192}
    model = timm.create_model("vit_tiny_patch16_224", num_classes=0, **args)
    return export_encoder(model, directory, image_size=image_size, model_args=args)


def random_like(export: str, directory: str, seed: int = 0) -> str:
    """An export of ``export``'s architecture with seeded random weights: the random-init baseline as a model."""
    from synclr_ray.encoder import load_encoder
    from synclr_ray.eval.baseline import random_baseline

    encoder = load_encoder(export)
    config = json.loads((Path(encoder.info["id"]) / "config.json").read_text())  # the version loaded
    return export_encoder(
        random_baseline(encoder, seed).model, directory, image_size=encoder.info["image_size"],
        model_args=config.get("model_args"),
    )  # fmt: skip
