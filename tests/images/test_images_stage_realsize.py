"""Stable Diffusion 1.5 at full size (UNet, VAE, CLIP text encoder; random weights from the shipped configs)
drawing 1 image of 1 caption at 512 px with 1 denoising step through the image stage's actor pool."""

import io
import json

import pytest
import ray
from PIL import Image
from realsize_meter import measured, safetensors_params

from synclr_ray import rows as contract
from synclr_ray.config import load_config
from synclr_ray.images.stage import ImageStage
from synclr_ray.realsize.diffusion import sd15_path

pytestmark = pytest.mark.realsize

CAPTION = {"caption_id": "s0-000000000000", "index": 0, "epoch": 0, "caption": "a tabby cat asleep on a sunlit windowsill",
           "concept": "tabby cat", "concept_source": "imagenet1k", "template": "c", "seed": 0}  # fmt: skip


def test_sd15_at_full_size_draws_one_512px_image(ray_cluster, capsys):
    model = sd15_path()
    unet = json.loads((model / "unet" / "config.json").read_text())
    assert unet["block_out_channels"] == [320, 640, 1280, 1280] and unet["cross_attention_dim"] == 768
    cfg = load_config("paper-vitb16", [f"images.model={model}", "images.images_per_caption=1",
                                       "images.num_inference_steps=1", "images.batch_size=1", "images.num_gpus=0",
                                       "images.num_cpus=2", "images.pool.max_size=1", "ray.generation_label=null",
                                       "ray.progress_bars=false"])  # fmt: skip
    assert (cfg.images.resolution, cfg.images.scheduler, cfg.images.guidance_scale) == (512, "ddim", 2.5)
    with measured("images: SD 1.5 UNet + VAE + CLIP text encoder, 1 step at 512 px", safetensors_params(model), capsys):
        captions = ray.data.from_arrow(contract.to_table([CAPTION], contract.CAPTION_SCHEMA))
        rows = ImageStage(cfg)(captions).take_all()

    assert [row["caption_id"] for row in rows] == [CAPTION["caption_id"]]
    (encoded,) = rows[0]["images"]
    with Image.open(io.BytesIO(encoded)) as image:
        assert image.size == (cfg.images.store_size, cfg.images.store_size)
    generator = json.loads(rows[0]["generator"])
    assert generator["resolution"] == 512 and generator["num_inference_steps"] == 1 and generator["dtype"] == "float32"
