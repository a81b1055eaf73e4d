import pytest
import torch

from synclr_ray.config.train import BackboneConfig
from synclr_ray.train.backbone import backbone_model_args, create_backbone, masked_forward_features, patch_grid

TINY = BackboneConfig(
    name="vit_tiny_patch16_224", kwargs={"patch_size": 8, "depth": 2, "num_heads": 3, "embed_dim": 48}, drop_path=0.0
)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return create_backbone(TINY, 32)


@pytest.mark.parametrize("size", [32, 16])
def test_unmasked_forward_equals_timm(vit, size):
    images = torch.randn(3, 3, size, size)
    no_mask = torch.zeros(3, (size // 8) ** 2, dtype=torch.bool)
    token = torch.randn(1, vit.embed_dim)
    expected = vit.forward_features(images)
    torch.testing.assert_close(masked_forward_features(vit, images, no_mask, token), expected, rtol=0, atol=0)
    torch.testing.assert_close(masked_forward_features(vit, images, None, None), expected, rtol=0, atol=0)


def test_mask_token_replaces_patches_before_position_embedding(vit):
    token = torch.nn.Parameter(torch.randn(1, vit.embed_dim))
    all_masked = torch.ones(2, 16, dtype=torch.bool)
    out = masked_forward_features(vit, torch.randn(2, 3, 32, 32), all_masked, token)
    # Fully masked: the image no longer matters, but positions still do (pos embed added after the token).
    torch.testing.assert_close(out[0], out[1])
    assert not torch.allclose(out[0, 1], out[0, 2], atol=1e-4)
    out.sum().backward()
    assert token.grad is not None and token.grad.abs().sum() > 0


def test_partial_mask_changes_only_through_token(vit):
    images = torch.randn(2, 3, 32, 32)
    masks = torch.zeros(2, 16, dtype=torch.bool)
    masks[0, :5] = True
    token = torch.zeros(1, vit.embed_dim, requires_grad=True)
    out = masked_forward_features(vit, images, masks, token)
    plain = vit.forward_features(images)
    torch.testing.assert_close(out[1], plain[1])
    assert not torch.allclose(out[0], plain[0])
    out[0].sum().backward()
    assert token.grad.abs().sum() > 0


def test_model_args_rebuild_and_grid(vit):
    args = backbone_model_args(TINY, 32)
    assert args["dynamic_img_size"] and args["img_size"] == 32 and args["patch_size"] == 8
    assert patch_grid(vit, 32) == (4, 4) and patch_grid(vit, 16) == (2, 2)
    assert vit.num_classes == 0


def test_bad_backbone_names_fail_clearly():
    with pytest.raises(ValueError, match="train.backbone"):
        create_backbone(BackboneConfig(name="no_such_model_xyz"), 32)
    with pytest.raises(ValueError, match="train.backbone"):
        create_backbone(BackboneConfig(name="resnet18"), 32)
