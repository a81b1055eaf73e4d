import json

import pytest
import timm
import torch
from PIL import Image

from synclr_ray.device import fastest_precision
from synclr_ray.encoder import export_encoder, load_encoder


@pytest.fixture
def vit():
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", img_size=32, num_classes=0, dynamic_img_size=True).eval()


@pytest.mark.parametrize("where", ["local", "s3"])
def test_export_loads_in_plain_timm_with_same_features(vit, tmp_path, s3_bucket, where):
    uri = str(tmp_path / "export") if where == "local" else f"{s3_bucket}/export"
    export_encoder(vit, uri, image_size=32, model_args={"img_size": 32, "dynamic_img_size": True})
    enc = load_encoder(uri)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(enc.features(x), vit.forward_features(x)[:, 0], atol=1e-6)
    assert enc.info["image_size"] == 32 and enc.info["feature_dim"] == 192
    assert enc.info["digest"].startswith("sha256:")
    if where == "local":
        plain = timm.create_model(f"local-dir:{uri}", pretrained=True).eval()
        assert torch.allclose(plain.forward_features(x), vit.forward_features(x), atol=1e-6)
        assert json.loads((tmp_path / "export" / "config.json").read_text())["architecture"] == "vit_tiny_patch16_224"


def test_embed_converts_modes_and_pools(vit, tmp_path):
    export_encoder(vit, str(tmp_path), image_size=32, model_args={"img_size": 32, "dynamic_img_size": True})
    enc = load_encoder(str(tmp_path))
    images = [Image.new("L", (50, 40), 128), Image.new("RGBA", (20, 20)), Image.new("CMYK", (33, 33))]
    cls = enc.embed(images, pool="cls")
    mean = enc.embed(images, pool="mean", normalize=True)
    assert cls.shape == mean.shape == (3, 192)
    assert abs(float((mean**2).sum(1)[0]) - 1.0) < 1e-5
    assert not (cls == mean).all()


def test_missing_files_are_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_encoder(str(tmp_path))


def test_bf16_features_are_float32_and_close_to_fp32(vit, tmp_path):
    export_encoder(vit, str(tmp_path), image_size=32, model_args={"img_size": 32, "dynamic_img_size": True})
    exact, fast = load_encoder(str(tmp_path)), load_encoder(str(tmp_path), precision="bf16")
    x = torch.randn(4, 3, 32, 32)
    got, want = fast.features(x, "mean"), exact.features(x, "mean")
    assert got.dtype == torch.float32 and fast.info["precision"] == "bf16"
    assert not torch.allclose(got, want, atol=1e-5)  # bf16 matmuls really ran
    assert torch.nn.functional.cosine_similarity(got, want).min() > 0.999


def test_auto_precision_resolves_to_the_devices_fastest(vit, tmp_path):
    export_encoder(vit, str(tmp_path), image_size=32, model_args={"img_size": 32, "dynamic_img_size": True})
    auto = load_encoder(str(tmp_path), precision="auto")
    assert auto.precision == auto.info["precision"] == fastest_precision("cpu")
