"""Any encoder to compare against: an export directory, or a timm model id with its pretrained weights."""

import timm
from timm.data import create_transform, resolve_data_config

from synclr_ray import storage
from synclr_ray.encoder import Encoder, load_encoder


def is_export(spec: str) -> bool:
    """True when ``spec`` names an export directory (an object-store URI or an existing path) rather than a timm model id."""
    return storage.is_remote(spec) or storage.exists(spec)


def load_any_encoder(spec: str, device: str = "cpu") -> Encoder:
    """An export directory through `load_encoder`, else a timm model id (``vit_base_patch16_clip_224.openai``,
    ``hf-hub:timm/...``, ``local-dir:DIR``) created with its pretrained weights and preprocessing."""
    if is_export(spec):
        return load_encoder(spec, device)
    try:
        model = timm.create_model(spec, pretrained=True, num_classes=0)
    except Exception as exc:
        raise ValueError(
            f"encoder {spec!r} is neither an export directory (config.json + model.safetensors) "
            f"nor a timm model with pretrained weights ({exc})"
        ) from None
    model = model.to(device).eval()
    data_cfg = resolve_data_config({}, model=model)
    info = {
        "id": spec,
        "architecture": model.pretrained_cfg.get("architecture", type(model).__name__),
        "image_size": int(data_cfg["input_size"][-1]),
        "feature_dim": int(model.num_features),
        "mean": list(data_cfg["mean"]),
        "std": list(data_cfg["std"]),
        "digest": None,
        "precision": "fp32",
    }
    return Encoder(model=model, transform=create_transform(**data_cfg), info=info)
