"""The replica's health: one tiny forward pass whose features must be finite."""

import torch

from synclr_ray.encoder import Encoder


def check_forward(encoder: Encoder) -> None:
    """Embed one mean-colour image; raise RuntimeError unless the features have the model's size and are finite."""
    size = encoder.info["image_size"]
    feats = encoder.features(torch.zeros(1, 3, size, size))  # zeros after normalisation: the mean colour
    expected = (1, encoder.info["feature_dim"])
    if tuple(feats.shape) != expected:
        raise RuntimeError(f"health check: features of shape {tuple(feats.shape)}, expected {expected}")
    if not torch.isfinite(feats).all():
        raise RuntimeError("health check: the encoder's features are not finite (NaN or inf)")
