"""The segment section: UperNet on four blocks, an increasing rescale range, the shared downstream checks."""

import pytest

from synclr_ray.config import ConfigError, load_config


def test_paper_defaults():
    cfg = load_config("paper-vitb16").segment
    assert (cfg.head, cfg.crop_size, cfg.steps, cfg.batch_size, cfg.num_classes) == ("upernet", 512, 60_000, 32, 150)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("segment.blocks=[1, 2, 3]", "blocks must name 4 encoder blocks"),
        ("segment.scale_range=[2.0, 0.5]", "scale_range must be increasing and positive"),
        ("segment.head=fcn", "segment.head"),
        ("segment.num_classes=256", "segment.num_classes"),
    ],
)
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", [override])
