"""Image limits, from header sizes: each refusal names the image index and the limit it breaks."""

import pytest
from fastapi import HTTPException

from synclr_ray.config import load_config
from synclr_ray.serving.limits import ImageLimits

LIMITS = ImageLimits(max_side=1000, max_aspect_ratio=4, max_pixels=250_000, max_request_pixels=400_000)


def test_sizes_within_every_limit_pass():
    LIMITS.check([(1000, 250), (150, 600)])  # side, ratio and pixels at their limits, either orientation
    LIMITS.check([(400, 500), (400, 500)])  # the request budget exactly


@pytest.mark.parametrize(
    ("sizes", "status", "message"),
    [
        ([(10, 10), (1001, 300)], 413, "images[1]: 1001x300 is above the limit of 1000 pixels per side"),
        ([(1000, 16)], 422, "images[0]: 1000x16 has an aspect ratio of 62.5:1, above the limit of 4:1"),
        ([(600, 500)], 413, "images[0]: 600x500 is 300000 pixels, above the limit of 250000 per image"),
        ([(500, 500), (400, 400)], 413, "images[1]: images[0..1] add up to 410000 pixels, above the budget"),
        ([(0, 10)], 400, "images[0]: 0x10 has no pixels"),
    ],
)
def test_each_limit_names_the_image_and_the_config_field(sizes, status, message):
    with pytest.raises(HTTPException) as err:
        LIMITS.check(sizes)
    assert err.value.status_code == status
    assert message in err.value.detail, err.value.detail
    assert "(serve.max_" in err.value.detail or status == 400


def test_the_request_budget_counts_every_image():
    with pytest.raises(HTTPException, match=r"images\[2\].*above the budget of 400000 per request"):
        LIMITS.check([(400, 400), (400, 400), (300, 300)])


def test_limits_come_from_the_serve_config():
    cfg = load_config("tiny", ["serve.max_image_side=512", "serve.max_aspect_ratio=3"]).serve
    limits = ImageLimits.from_config(cfg)
    assert (limits.max_side, limits.max_aspect_ratio) == (512, 3)
    assert (limits.max_pixels, limits.max_request_pixels) == (cfg.max_image_pixels, cfg.max_request_pixels)
