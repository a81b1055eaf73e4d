"""The random-init baseline: the exported architecture with fresh weights, evaluated the same way."""

import json

import timm
import torch

from synclr_ray import storage
from synclr_ray.encoder import CONFIG_FILE, Encoder


def random_baseline(encoder: Encoder, seed: int, device: str = "cpu") -> Encoder:
    """A model of ``encoder``'s architecture and model_args with seeded random weights and the same preprocessing."""
    config = json.loads(storage.read_text(storage.join(encoder.info["id"], CONFIG_FILE)))
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = timm.create_model(config["architecture"], pretrained=False, **config.get("model_args", {}))
    finally:
        torch.random.set_rng_state(generator_state)
    model.reset_classifier(0)
    info = {**encoder.info, "id": f"random-init:{config['architecture']}:seed={seed}", "digest": None}
    return Encoder(model=model.to(device).eval(), transform=encoder.transform, info=info, precision=encoder.precision)
