"""Encoders to compare against: an export directory, or a timm model id with its pretrained weights."""

import numpy as np
import pytest
import torch
from PIL import Image

from synclr_ray.encoder import load_encoder
from synclr_ray.eval.encoders import is_export, load_any_encoder


def test_exports_and_model_ids_are_told_apart(tiny_export, s3_bucket):
    assert is_export(tiny_export) and is_export(f"{s3_bucket}/export")
    assert not is_export("vit_base_patch16_clip_224.openai") and not is_export(f"local-dir:{tiny_export}")


def test_an_export_loads_as_the_project_encoder(tiny_export):
    encoder = load_any_encoder(tiny_export)
    reference = load_encoder(tiny_export)
    assert encoder.info["digest"] == reference.info["digest"]
    image = Image.fromarray(np.full((40, 40, 3), 128, np.uint8))
    batch = encoder.transform(image).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(encoder.model(batch), reference.model(batch))


def test_a_timm_local_dir_loads_with_timms_own_preprocessing(tiny_export):
    # The export is a plain timm checkpoint, so timm's `local-dir:` loader reads it without this package.
    encoder = load_any_encoder(f"local-dir:{tiny_export}")
    assert encoder.info["id"] == f"local-dir:{tiny_export}" and encoder.info["image_size"] == 32
    assert encoder.info["feature_dim"] == load_encoder(tiny_export).info["feature_dim"]
    image = Image.fromarray(np.full((40, 40, 3), 128, np.uint8))
    with torch.no_grad():
        reference = load_encoder(tiny_export)
        expected = reference.model(reference.transform(image).unsqueeze(0))
        assert torch.allclose(encoder.model(encoder.transform(image).unsqueeze(0)), expected, atol=1e-5)


def test_neither_an_export_nor_a_timm_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is neither an export directory .* nor a timm model"):
        load_any_encoder("no_such_model_anywhere")
