"""Resolve and load the diffusers Stable Diffusion pipeline an image generator holds."""

import json
from typing import Any

import torch

from synclr_ray import storage
from synclr_ray.config.images import ImagesConfig
from synclr_ray.device import resolve


def make_scheduler(name: str, config: Any) -> Any:
    """DDIM (deterministic, eta 0: the reference) or multistep DPM-Solver++ (the fast option) from the model's config."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    if name == "ddim":
        return DDIMScheduler.from_config(config)
    return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++")


def load_pipeline(cfg: ImagesConfig, device: str) -> Any:
    """A ready ``StableDiffusionPipeline``: fp16 + channels_last (+ torch.compile) on GPU, fp32 on CPU.

    Attention runs through PyTorch SDPA (diffusers' default processor on torch 2).
    """
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    # Loaded in a Ray actor, whose output is a log forwarded to the driver: progress bars there are noise.
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    compute = resolve("fp16", device=device, cpu_precision="fp32")
    extra = {} if cfg.safety_checker else {"safety_checker": None, "requires_safety_checker": False}
    try:
        pipe = StableDiffusionPipeline.from_pretrained(storage.model_source(cfg.model), dtype=compute.dtype, **extra)
    except (OSError, ValueError) as exc:
        raise ValueError(f"images.model {cfg.model!r} cannot be loaded: {exc}") from exc
    if cfg.safety_checker and pipe.safety_checker is None:
        raise ValueError(f"images.safety_checker is on but images.model {cfg.model!r} has no safety checker")
    pipe.scheduler = make_scheduler(cfg.scheduler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    pipe.to(compute.device)
    if compute.device.type == "cuda":
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        if cfg.compile:
            pipe.unet = torch.compile(pipe.unet)
    return pipe


def generator_settings(cfg: ImagesConfig, dtype: torch.dtype) -> str:
    """The ``generator`` column: JSON of the model id and every setting that shapes the pixels."""
    import diffusers

    settings = {
        "model": cfg.model,
        "scheduler": cfg.scheduler,
        "num_inference_steps": cfg.num_inference_steps,
        "guidance_scale": cfg.guidance_scale,
        "resolution": cfg.resolution,
        "store_size": cfg.store_size,
        "image_format": cfg.image_format,
        "quality": cfg.quality,
        "safety_checker": cfg.safety_checker,
        "dtype": str(dtype).removeprefix("torch."),
        "diffusers": diffusers.__version__,
    }
    return json.dumps(settings, sort_keys=True)
