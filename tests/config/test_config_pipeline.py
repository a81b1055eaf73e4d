"""The pipeline section: streaming without reuse by default; a caption cycle must hold captions."""

import pytest

from synclr_ray.config import ConfigError, load_config


def test_defaults_stream_fresh_captions_without_writing_through():
    cfg = load_config("paper-vitb16").pipeline
    assert cfg.caption_cycle is None and cfg.write_through is False
    assert load_config("tiny", ["pipeline.caption_cycle=64"]).pipeline.caption_cycle == 64


def test_an_empty_cycle_is_refused():
    with pytest.raises(ConfigError, match="pipeline.caption_cycle"):
        load_config("tiny", ["pipeline.caption_cycle=0"])
