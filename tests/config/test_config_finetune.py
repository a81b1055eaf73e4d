"""The finetune section: the paper's recipe by default, and the shared downstream checks."""

import pytest

from synclr_ray.config import ConfigError, load_config
from synclr_ray.config.finetune import FinetuneConfig


def test_defaults_are_the_papers_recipe():
    cfg = FinetuneConfig()
    assert cfg.lr == pytest.approx(5e-5 * cfg.batch_size / 256)  # base lr 5e-5 scaled by batch / 256
    assert cfg.steps == 100 * 1251 + 0 and cfg.warmup_steps == 20 * 1251  # 100 epochs, 20 of warmup, 1251 steps each
    assert (cfg.mixup, cfg.cutmix, cfg.label_smoothing) == (0.8, 1.0, 0.1)


def test_inherits_the_downstream_checks():
    with pytest.raises(ConfigError, match=r"batch_size \(10\) must be divisible by num_workers \(3\)"):
        load_config("tiny", ["finetune.batch_size=10", "finetune.num_workers=3"])
    with pytest.raises(ConfigError, match="finetune.random_erasing"):
        load_config("tiny", ["finetune.random_erasing=2"])
