"""Stable Diffusion 1.5 at full size (UNet, VAE, CLIP ViT-L/14 text encoder) with random weights.

`sd15_models` builds the networks from the shipped configs in memory and imports nothing beyond
torch, diffusers and transformers (``bench/gpu.py`` runs it on machines without Ray);
`sd15_path` saves them as a diffusers pipeline directory that the image stage loads.
"""

from pathlib import Path
from typing import Any

import torch

from synclr_ray.realsize import build_once, config_path

VERSION = "v1"  # bump when the build below changes, so caches rebuild


def sd15_models(dtype: torch.dtype = torch.float32, device: str = "cpu") -> dict[str, Any]:
    """``{"unet", "vae", "text_encoder", "scheduler"}`` at SD 1.5's sizes, randomly initialised (seeded)."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = config_path("sd15")
    torch.manual_seed(0)
    models: dict[str, Any] = {
        "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")),
        "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
        "text_encoder": CLIPTextModel(CLIPTextConfig.from_json_file(folder / "text_encoder" / "config.json")),
    }
    for model in models.values():
        model.to(device=device, dtype=dtype).eval()
    models["scheduler"] = PNDMScheduler.from_config(PNDMScheduler.load_config(folder / "scheduler"))
    return models


def build_sd15(out_dir: Path) -> None:
    """Save the random SD 1.5 as a pipeline directory (float16 weights), with the tiny SD's CLIP tokenizer."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    from synclr_ray.storage import local_copy

    # SD 1.5's 77-token context (the tiny SD's own is shorter).
    tokenizer = CLIPTokenizer.from_pretrained(local_copy("builtin://tiny-sd15/tokenizer"), model_max_length=77)
    pipe = StableDiffusionPipeline(
        **sd15_models(torch.float16),
        tokenizer=tokenizer,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out_dir, safe_serialization=True)


def sd15_path() -> Path:
    """The pipeline directory in this node's cache, built on first use."""
    return build_once(f"realsize-sd15-{VERSION}", "model_index.json", build_sd15)
