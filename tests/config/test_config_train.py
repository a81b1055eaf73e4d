"""The train section: batches split evenly over ranks, warmup inside the schedule, rates in range."""

import pytest

from synclr_ray.config import ConfigError, load_config


def test_paper_preset_values():
    cfg = load_config("paper-vitb16").train
    assert cfg.backbone.name == "vit_base_patch16_224"
    assert (cfg.crops.global_size, cfg.crops.local_size, cfg.crops.num_local) == (224, 96, 4)
    assert cfg.heads.prototypes == 65536


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.batch_captions=10", "train.num_workers=4"], r"batch_captions \(10\) must be divisible by num_workers"),
        (["train.steps=100", "train.optim.warmup_steps=100"], r"optim.warmup_steps \(100\) must be below steps"),
        (["train.mask.ratio=1"], "train.mask.ratio"),
        (["train.backbone.drop_path=1"], "train.backbone.drop_path"),
        (["train.optim.momentum_end=1.5"], "train.optim.momentum_end"),
    ],
)
def test_bad_values_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", overrides)
