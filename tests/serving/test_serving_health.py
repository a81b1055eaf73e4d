"""The replica's health check: one forward pass that must give finite features of the right size."""

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from synclr_ray.encoder import export_encoder, load_encoder
from synclr_ray.serving.health import check_forward

ARGS = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2}


def export(tmp_path, poison: bool) -> str:
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, **ARGS).eval()
    uri = export_encoder(vit, str(tmp_path / "export"), image_size=32, model_args=ARGS)
    if poison:  # export_encoder refuses NaN weights: break the file afterwards, as a corrupted copy would be
        weights = load_file(tmp_path / "export" / "model.safetensors")
        weights["blocks.0.attn.qkv.weight"][0, 0] = float("nan")
        save_file(weights, tmp_path / "export" / "model.safetensors")
    return uri


def test_a_healthy_model_passes(tmp_path):
    check_forward(load_encoder(export(tmp_path, poison=False)))


def test_a_model_with_nan_weights_fails(tmp_path):
    with pytest.raises(RuntimeError, match="not finite"):
        check_forward(load_encoder(export(tmp_path, poison=True)))
