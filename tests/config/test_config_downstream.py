"""The settings every downstream run shares: batches split evenly over ranks, warmup inside the schedule."""

import pytest
from pydantic import ValidationError

from synclr_ray.config.downstream import DownstreamTrainConfig


def test_the_batch_must_split_evenly_over_the_workers():
    assert DownstreamTrainConfig(batch_size=32, num_workers=4).batch_size == 32
    with pytest.raises(ValidationError, match=r"batch_size \(30\) must be divisible by num_workers \(4\)"):
        DownstreamTrainConfig(batch_size=30, num_workers=4)


def test_warmup_must_end_before_the_schedule():
    with pytest.raises(ValidationError, match=r"warmup_steps \(100\) must be below steps \(100\)"):
        DownstreamTrainConfig(steps=100, warmup_steps=100)
    assert DownstreamTrainConfig(steps=1, warmup_steps=5).steps == 1  # a one-step smoke run needs no warmup check


def test_layer_decay_is_a_scale_in_0_1():
    with pytest.raises(ValidationError, match="layer_decay"):
        DownstreamTrainConfig(layer_decay=1.5)
