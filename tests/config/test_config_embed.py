"""The embed section: an actor pool of CPUs or GPUs writing shards of a positive size."""

import pytest

from synclr_ray.config import ConfigError, load_config


def test_defaults_normalise_on_gpus_and_cpus_are_allowed():
    cfg = load_config("tiny").embed
    assert cfg.normalize is True
    assert load_config("tiny", ["embed.num_gpus=0"]).embed.num_gpus == 0


@pytest.mark.parametrize("override", ["embed.shard_images=0", "embed.batch_size=0", "embed.pool.min_size=0"])
def test_empty_units_are_refused_naming_the_field(override):
    with pytest.raises(ConfigError, match=f"config field '{override.split('=')[0]}'"):
        load_config("tiny", [override])
