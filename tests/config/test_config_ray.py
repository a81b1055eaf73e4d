"""The ray section: pools of at least one actor, node labels that the paper presets pin."""

import pytest

from synclr_ray.config import ConfigError, load_config
from synclr_ray.config.ray import PoolConfig


def test_paper_presets_pin_generation_and_training_to_their_node_labels():
    cfg = load_config("paper-vitb16").ray
    assert (cfg.generation_label, cfg.training_label) == ("data", "training")
    assert load_config("tiny").ray.generation_label is None


def test_pools_and_local_cpus_are_positive():
    assert PoolConfig(min_size=2, max_size=4).max_size == 4
    for override in ("captions.pool.max_size=0", "ray.num_cpus=0"):
        with pytest.raises(ConfigError, match=f"config field '{override.split('=')[0]}'"):
            load_config("tiny", [override])
