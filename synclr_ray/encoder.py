"""The exported encoder: a plain timm checkpoint that downstream code loads without us.

Layout of an export directory (local or s3://), written by timm's own ``save_for_hf``:
``model.safetensors`` (timm key names, no classifier) and ``config.json`` (timm's hub config:
``architecture``, ``model_args``, ``num_features`` and ``pretrained_cfg`` with input size,
mean and std). ``timm.create_model("local-dir:DIR", pretrained=True)`` loads it, as does
``timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=DIR/model.safetensors))``.
Training publishes each export as a version of an export root (`synclr_ray.exports`); every
loader here accepts the root (its latest complete version), one version, or a plain directory.
"""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import timm
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config
from timm.models import save_for_hf

from synclr_ray import exports, storage
from synclr_ray.device import Compute, Precision, resolve

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
Pool = Literal["cls", "mean"]


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def export_encoder(
    backbone: torch.nn.Module,
    out_uri: str,
    image_size: int,
    model_args: dict[str, Any] | None = None,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> str:
    """Save a timm ViT backbone (classifier removed) as an export directory; returns ``out_uri``.

    ``image_size``, ``mean`` and ``std`` are the preprocessing the weights were trained with;
    evaluation resizes to ``image_size`` and centre-crops nothing away (crop_pct 1).
    Raises ValueError, writing nothing, if any weight is NaN or infinite.
    """
    nonfinite = [name for name, tensor in backbone.state_dict().items() if not torch.isfinite(tensor).all()]
    if nonfinite:
        raise ValueError(
            f"refusing to export non-finite weights ({len(nonfinite)} tensors hold NaN or inf, e.g. {nonfinite[0]})"
        )
    backbone.reset_classifier(0)
    data_config = {"input_size": (3, image_size, image_size), "mean": mean, "std": std, "crop_pct": 1.0}
    with tempfile.TemporaryDirectory() as tmp:
        save_for_hf(backbone, tmp, model_args=model_args, safe_serialization=True, data_config=data_config)
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            storage.write_bytes(storage.join(out_uri, name), (Path(tmp) / name).read_bytes())
    return out_uri


@dataclass
class Encoder:
    """A loaded export: the timm model, its eval preprocessing and a description."""

    model: torch.nn.Module
    transform: Any
    info: dict[str, Any]
    precision: Precision = "fp32"

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        """Images (any mode) to a normalised batch, the same way everywhere (probe, serve, PCA)."""
        return torch.stack([self.transform(img.convert("RGB")) for img in images])

    @torch.inference_mode()
    def features(self, batch: torch.Tensor, pool: Pool = "cls") -> torch.Tensor:
        """Pooled float32 features of a preprocessed batch: the CLS token or the mean of patch tokens.

        Under bf16/fp16 the forward runs in autocast: matmuls in that precision, reductions autocast keeps in fp32.
        """
        compute = Compute(next(self.model.parameters()).device, self.precision)
        with compute.autocast():
            tokens = self.model.forward_features(batch.to(compute.device))
        prefix = getattr(self.model, "num_prefix_tokens", 1)
        return (tokens[:, 0] if pool == "cls" else tokens[:, prefix:].mean(dim=1)).float()

    def embed(self, images: list[Image.Image], pool: Pool = "cls", normalize: bool = False) -> np.ndarray:
        """Features of PIL images as a float32 array (optionally l2-normalised)."""
        feats = self.features(self.preprocess(images), pool)
        if normalize:
            feats = torch.nn.functional.normalize(feats, dim=-1)
        return feats.cpu().numpy()


def load_encoder(uri: str, device: str = "cpu", precision: Precision | Literal["auto"] = "fp32") -> Encoder:
    """Load an export (local or s3://: an export root's latest version, one version, or a plain export
    directory) from safetensors only; clear error if files are missing or a version is incomplete.

    Weights stay float32; ``precision`` is what ``features`` computes in (``auto``: the device's fastest,
    `synclr_ray.device.fastest_precision`).
    ``info["id"]`` is the version directory loaded.
    """
    precision = resolve(precision, device=device).precision
    version, local, manifest = exports.local_export(uri)
    missing = [name for name in (WEIGHTS_FILE, CONFIG_FILE) if not (local / name).is_file()]
    if missing:
        raise FileNotFoundError(f"encoder {uri} lacks {', '.join(missing)} (expected an export directory)")
    config = json.loads((local / CONFIG_FILE).read_text())
    model = timm.create_model(f"local-dir:{local}", pretrained=True).to(device).eval()
    data_cfg = resolve_data_config({}, model=model)
    digest = manifest["files"][WEIGHTS_FILE] if manifest else exports.file_digest(local / WEIGHTS_FILE)
    info = {
        "id": version,
        "architecture": config["architecture"],
        "image_size": int(data_cfg["input_size"][-1]),
        "feature_dim": int(model.num_features),
        "mean": list(data_cfg["mean"]),
        "std": list(data_cfg["std"]),
        "digest": f"sha256:{digest}",
        "precision": precision,
    }
    return Encoder(model=model, transform=create_transform(**data_cfg), info=info, precision=precision)
