"""The replica's health check: one forward pass that must give finite features of the right size."""

import pytest
import timm
import torch

from synclr_ray.encoder import export_encoder, load_encoder
from synclr_ray.serving.health import check_forward

ARGS = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2}


def export(tmp_path, poison: bool) -> str:
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, **ARGS).eval()
    if poison:  # what a corrupted checkpoint or a diverged run looks like
        with torch.no_grad():
            vit.blocks[0].attn.qkv.weight[0, 0] = float("nan")
    return export_encoder(vit, str(tmp_path / "export"), image_size=32, model_args=ARGS)


def test_a_healthy_model_passes(tmp_path):
    check_forward(load_encoder(export(tmp_path, poison=False)))


def test_a_model_with_nan_weights_fails(tmp_path):
    with pytest.raises(RuntimeError, match="not finite"):
        check_forward(load_encoder(export(tmp_path, poison=True)))
