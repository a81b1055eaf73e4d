"""The serve config section: limits that would make batching or scaling impossible are refused."""

import re

import pytest

from synclr_ray.config import ConfigError, load_config


def test_presets_batch_within_ongoing_requests():
    for preset in ("tiny", "paper-vitb16", "paper-vitl14"):
        cfg = load_config(preset).serve
        assert cfg.max_ongoing_requests >= cfg.max_batch_size


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("serve.max_ongoing_requests=4", "max_ongoing_requests (4) must be at least max_batch_size"),
        ("serve.autoscaling.min_replicas=3", "min_replicas (3) must not exceed max_replicas"),
        ("serve.max_body_bytes=10", "serve.max_body_bytes"),
        ("serve.precision=fp16", "precision fp16 needs GPU replicas"),
        ("serve.precision=int8", "serve.precision"),
    ],
)
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        load_config("tiny", [override])
