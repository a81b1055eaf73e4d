"""Loading the diffusers pipeline an image generator holds, its scheduler, and the settings recorded with its rows."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from synclr_ray import storage
from synclr_ray.config import Config
from synclr_ray.images.model import generator_settings, load_pipeline, make_scheduler


def test_model_from_s3_dir(images_config: Callable[..., Config], s3_bucket: str) -> None:
    uri = f"{s3_bucket}/models/tiny-sd"
    storage.upload_dir(storage.local_copy("builtin://tiny-sd15"), uri)
    pipe = load_pipeline(images_config(f"images.model={uri}").images, "cpu")
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size


def test_unusable_model_settings_fail_naming_the_field(images_config: Callable[..., Config], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="images.safety_checker"):
        load_pipeline(images_config("images.safety_checker=true").images, "cpu")
    with pytest.raises(ValueError, match="images.model"):
        load_pipeline(images_config(f"images.model={tmp_path}").images, "cpu")


def test_schedulers_come_from_the_models_own_config():
    config = DDIMScheduler(num_train_timesteps=500, beta_schedule="scaled_linear").config
    ddim = make_scheduler("ddim", config)
    fast = make_scheduler("dpmsolver++", config)
    assert isinstance(ddim, DDIMScheduler) and isinstance(fast, DPMSolverMultistepScheduler)
    assert fast.config.algorithm_type == "dpmsolver++"
    assert ddim.config.num_train_timesteps == fast.config.num_train_timesteps == 500


def test_the_generator_column_records_every_setting_that_shapes_the_pixels(
    images_config: Callable[..., Config],
) -> None:
    cfg = images_config().images
    settings = json.loads(generator_settings(cfg, torch.float16))
    assert settings["dtype"] == "float16" and settings["model"] == cfg.model
    assert settings["num_inference_steps"] == 2 and settings["scheduler"] == cfg.scheduler
    other = images_config("images.guidance_scale=4").images
    assert generator_settings(other, torch.float16) != generator_settings(cfg, torch.float16)
