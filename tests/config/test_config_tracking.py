"""The tracking section: TensorBoard on by default, MLflow and W&B opt-in, named errors for bad values."""

import pytest

from synclr_ray.config import ConfigError, load_config


def test_defaults_and_overrides():
    tracking = load_config("tiny").tracking
    assert tracking.tensorboard and not tracking.mlflow.enabled and tracking.mlflow.tracking_uri is None
    tracking = load_config("tiny", ["tracking.mlflow.enabled=true", "tracking.mlflow.experiment=runs"]).tracking
    assert tracking.mlflow.enabled and tracking.mlflow.experiment == "runs"
    assert not tracking.wandb.enabled and tracking.wandb.mode == "online"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("tracking.mlflow.experiment=", "tracking.mlflow.experiment"),
        ("tracking.wandb=true", "tracking.wandb"),
        ("tracking.wandb.mode=cloud", "tracking.wandb.mode"),
        ("tracking.wandb.project=", "tracking.wandb.project"),
    ],  # fmt: skip
)
def test_bad_values_name_their_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config("tiny", [override])
