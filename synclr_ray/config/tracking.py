"""Experiment tracking of the pretraining run: TensorBoard events, and optionally MLflow and Weights & Biases."""

from typing import Literal

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


class WandbConfig(Section):
    """Weights & Biases, logged from rank 0 inside the training loop (config once, metrics every log step)."""

    enabled: bool = False
    project: str = Field("synclr", min_length=1, description="W&B project.")
    entity: str | None = Field(None, description="W&B team or user; default: the API key's default entity.")
    mode: Literal["online", "offline"] = Field(
        "online",
        description="online: needs WANDB_API_KEY in the training workers' environment (a job's runtime_env); "
        "offline: the run is written under ROOT/train/wandb/ for `wandb sync` later.",
    )


class TrackingConfig(Section):
    """Where the training metrics go besides ROOT/train/metrics.jsonl and Ray Train's reports."""

    tensorboard: bool = Field(True, description="Write TensorBoard events under ROOT/train/tensorboard/.")
    mlflow: MlflowConfig = MlflowConfig()
    wandb: WandbConfig = WandbConfig()
