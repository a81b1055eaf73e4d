"""Shared helpers for the model/objective tests: the tiny preset's train section with overrides."""

from collections.abc import Callable

import pytest

from synclr_ray.config import load_config
from synclr_ray.config.train import TrainConfig


@pytest.fixture
def train_config() -> Callable[..., TrainConfig]:
    """``train_config("loss.ibot=false", ...)``: the tiny train section with dotted overrides under ``train.``."""

    def make(*overrides: str) -> TrainConfig:
        return load_config("tiny", [f"train.{item}" for item in overrides]).train

    return make
