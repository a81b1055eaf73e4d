import torch

from synclr_ray.encoder import load_encoder
from synclr_ray.eval.baseline import random_baseline


def test_baseline_is_same_architecture_with_seeded_random_weights(tiny_export):
    encoder = load_encoder(tiny_export)
    first, again, other = (random_baseline(encoder, seed) for seed in (0, 0, 1))
    x = torch.randn(2, 3, 32, 32)
    assert first.features(x).shape == encoder.features(x).shape == (2, 192)
    assert torch.equal(first.features(x), again.features(x))
    assert not torch.allclose(first.features(x), other.features(x))
    assert not torch.allclose(first.features(x), encoder.features(x))
    assert first.transform is encoder.transform and first.info["id"].startswith("random-init:vit_tiny_patch16_224")
