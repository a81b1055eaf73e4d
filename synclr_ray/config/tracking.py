"""Experiment tracking of the pretraining run: TensorBoard events, and optionally MLflow."""

from pydantic import Field

from synclr_ray.config.base import Section


class MlflowConfig(Section):
    """MLflow, logged from rank 0 inside the training loop (params once, metrics every ``train.log_every`` steps)."""

    enabled: bool = False
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI (http(s)://, databricks, sqlite:///..., a folder). Default: mlruns/ "
        "beside a local run root; required for object-store roots.",
    )
    experiment: str = Field("synclr", min_length=1, description="MLflow experiment name.")


class TrackingConfig(Section):
    """Where the training metrics go besides ROOT/train/metrics.jsonl and Ray Train's reports."""

    tensorboard: bool = Field(True, description="Write TensorBoard events under ROOT/train/tensorboard/.")
    mlflow: MlflowConfig = MlflowConfig()
