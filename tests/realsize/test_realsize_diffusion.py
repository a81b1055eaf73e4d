"""Stable Diffusion 1.5's shapes from the shipped configs (building the random networks is the realsize tier's)."""

import json

from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel

from synclr_ray.realsize import config_path


def test_the_unet_vae_and_text_encoder_configs_are_sd15s():
    folder = config_path("sd15")
    unet = UNet2DConditionModel.load_config(folder / "unet")
    assert tuple(unet["block_out_channels"]) == (320, 640, 1280, 1280) and unet["cross_attention_dim"] == 768
    assert unet["in_channels"] == 4 and unet["sample_size"] == 64  # 512 px through the VAE's 8x grid
    vae = AutoencoderKL.load_config(folder / "vae")
    assert vae["latent_channels"] == 4 and len(vae["block_out_channels"]) == 4  # three 2x downsamplings: 8x
    text = json.loads((folder / "text_encoder" / "config.json").read_text())
    assert (text["hidden_size"], text["num_hidden_layers"], text["max_position_embeddings"]) == (768, 12, 77)
    scheduler = PNDMScheduler.from_config(PNDMScheduler.load_config(folder / "scheduler"))
    assert scheduler.config.num_train_timesteps == 1000 and scheduler.config.beta_schedule == "scaled_linear"
