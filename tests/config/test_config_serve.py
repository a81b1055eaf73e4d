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
        ("serve.max_request_pixels=100", "max_request_pixels (100) must be at least max_image_pixels"),
        ("serve.max_queued_requests=0", "serve.max_queued_requests"),
        ("serve.auth=required", "serve.auth is required but serve.auth_token_file is not set"),
    ],
)
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        load_config("tiny", [override])


def test_auth_is_required_off_loopback():
    """Loopback may run open; any other address needs a token file, and saying 'none' there is refused."""
    assert load_config("tiny").serve.auth == "none"
    assert load_config("tiny", ["serve.host=::1"]).serve.auth == "none"
    with pytest.raises(ConfigError, match=re.escape("serve.host 0.0.0.0 is not loopback) but serve.auth_token_file")):
        load_config("tiny", ["serve.host=0.0.0.0"])
    with pytest.raises(ConfigError, match="serve.auth none needs a loopback serve.host, not 10.0.0.7"):
        load_config("tiny", ["serve.host=10.0.0.7", "serve.auth=none", "serve.auth_token_file=/run/token"])
    cfg = load_config("tiny", ["serve.host=0.0.0.0", "serve.auth_token_file=/run/secrets/token"])
    assert cfg.serve.auth == "required"
    assert "/run/secrets/token" in cfg.to_yaml()  # the echo holds the file's name, never a token
