"""The images section: sizes on the VAE's grid, known schedulers, CFG of at least 1."""

import pytest

from synclr_ray.config import ConfigError, load_config


def test_paper_values_by_default():
    cfg = load_config("paper-vitb16").images
    assert (cfg.images_per_caption, cfg.guidance_scale, cfg.scheduler, cfg.resolution) == (4, 2.5, "ddim", 512)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("images.resolution=100", "must be a multiple of 8"),
        ("images.scheduler=euler", "images.scheduler"),
        ("images.guidance_scale=0.5", "images.guidance_scale"),
        ("images.quality=101", "images.quality"),
        ("images.image_format=png", "images.image_format"),
    ],
)
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", [override])
