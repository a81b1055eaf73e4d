"""Training metrics every log step: to Ray Train (``ray.train.report``), TensorBoard, optionally MLflow and W&B.

Every rank reports the same record at the same steps (``ray.train.report`` is a barrier);
rank 0 alone writes TensorBoard events under ``RUN_DIR/tensorboard/`` and logs to MLflow and
W&B. Their run ids are kept in ``RUN_DIR/mlflow.json`` and ``RUN_DIR/wandb.json``, so a resumed
training run continues the same tracked run.
"""

import json
import logging
import netrc
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import ray.train

from synclr_ray import storage
from synclr_ray.config import Config, ConfigError

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"
MLFLOW_FILE = "mlflow.json"
WANDB_FILE = "wandb.json"
WANDB_DIR = "wandb"


def check_tracking(cfg: Config, run_dir: str) -> None:
    """Raise `ConfigError` before training for a tracking sink that could not start on the workers."""
    if cfg.tracking.mlflow.enabled:
        mlflow_tracking_uri(cfg, run_dir)
    if cfg.tracking.wandb.enabled and cfg.tracking.wandb.mode == "online" and not _wandb_logged_in():
        raise ConfigError(
            "tracking.wandb.mode=online: no W&B API key: set WANDB_API_KEY (in the job's runtime_env on a "
            "cluster) or run `wandb login`, or set tracking.wandb.mode=offline"
        )


def _wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def mlflow_tracking_uri(cfg: Config, run_dir: str) -> str:
    """``tracking.mlflow.tracking_uri``, else ``mlruns/`` beside the run root of a local run directory
    (``ROOT/train``); raises `ConfigError` for an object-store run without one."""
    uri = cfg.tracking.mlflow.tracking_uri
    if uri:
        return uri
    if storage.is_remote(run_dir):
        raise ConfigError(
            f"tracking.mlflow.tracking_uri: required when the run is on an object store ({run_dir}): "
            "set it to your MLflow server (e.g. http://mlflow:5000) or a database URI"
        )
    return (Path(storage.filesystem(run_dir)[1]).parent.parent / "mlruns").as_uri()


class TensorBoardLog:
    """Scalars to TensorBoard event files under ``uri``; for an object store, written locally and copied there."""

    def __init__(self, uri: str, resumed_step: int) -> None:
        from tensorboardX import SummaryWriter

        self.uri = uri
        self.local = tempfile.mkdtemp(prefix="synclr-tb-") if storage.is_remote(uri) else storage.filesystem(uri)[1]
        # purge_step: a resumed run hides the events that the interrupted run wrote after its checkpoint.
        self.writer = SummaryWriter(self.local, purge_step=resumed_step + 1 if resumed_step else None)

    def log(self, record: dict[str, float]) -> None:
        step = int(record["step"])
        for name, value in record.items():
            if name != "step":
                self.writer.add_scalar(f"train/{name}", value, step)
        self.writer.flush()
        if storage.is_remote(self.uri):
            for path in Path(self.local).iterdir():
                storage.write_bytes(storage.join(self.uri, path.name), path.read_bytes())

    def close(self) -> None:
        self.writer.close()


class MlflowLog:
    """Params once, then metrics per log step, to one MLflow run (resumed with the training run)."""

    def __init__(self, cfg: Config, run_dir: str) -> None:
        from mlflow.tracking import MlflowClient

        uri = mlflow_tracking_uri(cfg, run_dir)
        if uri.startswith("file:") or "://" not in uri:
            # MLflow 3 refuses its folder store unless asked; a folder beside the run root is the local default.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(uri)
        self.state_uri = storage.join(run_dir, MLFLOW_FILE)
        saved = storage.read_json(self.state_uri) if storage.exists(self.state_uri) else {}
        if saved.get("tracking_uri") == uri:
            self.run_id = saved["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = cfg.tracking.mlflow.experiment
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        run = self.client.create_run(experiment_id, run_name=run_dir.rstrip("/").rsplit("/", 2)[-2])
        self.run_id = run.info.run_id
        params = _flatten(cfg.model_dump(mode="json"))
        from mlflow.entities import Param

        for start in range(0, len(params), 100):  # MLflow's batch limit
            chunk = list(params.items())[start : start + 100]
            self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in chunk])
        storage.write_json(self.state_uri, {"tracking_uri": uri, "run_id": self.run_id})
        log.info("MLflow run %s in experiment %r at %s", self.run_id, name, uri)

    def log(self, record: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), int(record["step"])
        metrics = [Metric(name, float(value), now, step) for name, value in record.items() if name != "step"]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED")


class WandbLog:
    """Config once, then metrics per log step, to one W&B run (resumed with the training run).

    The run's local files live under ``RUN_DIR/wandb/`` (an offline run is synced from there with
    ``wandb sync``); for an object-store run directory they are written locally and copied there at the end.
    """

    def __init__(self, cfg: Config, run_dir: str) -> None:
        import wandb

        wcfg = cfg.tracking.wandb
        self.uri = storage.join(run_dir, WANDB_DIR)
        # W&B writes its files under DIR/wandb/: DIR is the run directory, or a local one copied there at the end.
        self.local = tempfile.mkdtemp(prefix="synclr-wandb-") if storage.is_remote(run_dir) else None
        local_dir = self.local or storage.filesystem(run_dir)[1]
        os.makedirs(local_dir, exist_ok=True)
        state_uri = storage.join(run_dir, WANDB_FILE)
        saved = storage.read_json(state_uri) if storage.exists(state_uri) else {}
        run_id = saved.get("run_id") or uuid.uuid4().hex[:8]
        self.run = wandb.init(
            project=wcfg.project,
            entity=wcfg.entity,
            id=run_id,
            resume="allow",
            name=run_dir.rstrip("/").rsplit("/", 2)[-2],
            dir=local_dir,
            mode=wcfg.mode,
            config=_flatten(cfg.model_dump(mode="json")),
            settings=wandb.Settings(console="off", silent=True),  # the driver already shows the worker's log
        )
        if not saved:
            storage.write_json(state_uri, {"run_id": run_id, "project": wcfg.project})
        log.info("W&B run %s in project %r (%s)", run_id, wcfg.project, wcfg.mode)

    def log(self, record: dict[str, float]) -> None:
        self.run.log({name: value for name, value in record.items() if name != "step"}, step=int(record["step"]))

    def close(self) -> None:
        import wandb

        self.run.finish()
        # finish() returns before W&B's service has written (or uploaded) everything, and its atexit hook is
        # not reliable in a Ray worker, which Ray Train ends: wait for the service here.
        wandb.teardown()
        if self.local:
            written = Path(self.local) / WANDB_DIR
            for path in written.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    storage.write_bytes(storage.join(self.uri, str(path.relative_to(written))), path.read_bytes())


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, list | tuple) else value
    return out


def quiet_ray_train_reports() -> None:
    """Ray Train V2 logs each ``ray.train.report`` call at INFO on every rank, under a logger named by its
    module's file: one line per log step per rank beside the training progress line, which says the same."""
    from ray.train.v2._internal.execution import context

    logging.getLogger(context.__file__).setLevel(logging.WARNING)


class Tracker:
    """The metric sinks of one rank: Ray Train on every rank, TensorBoard, MLflow and W&B on rank 0."""

    def __init__(self, cfg: Config, run_dir: str, resumed_step: int, rank: int) -> None:
        quiet_ray_train_reports()
        self.sinks: list[TensorBoardLog | MlflowLog | WandbLog] = []
        if rank == 0 and cfg.tracking.tensorboard:
            self.sinks.append(TensorBoardLog(storage.join(run_dir, TENSORBOARD_DIR), resumed_step))
        if rank == 0 and cfg.tracking.mlflow.enabled:
            self.sinks.append(MlflowLog(cfg, run_dir))
        if rank == 0 and cfg.tracking.wandb.enabled:
            self.sinks.append(WandbLog(cfg, run_dir))

    def log(self, record: dict[str, float]) -> None:
        """Report one log step's record (the same on every rank: a barrier) and write it to rank 0's sinks."""
        ray.train.report(dict(record), checkpoint=None)
        for sink in self.sinks:
            sink.log(record)

    def close(self) -> None:
        """End the run in every sink (the MLflow run is marked finished)."""
        for sink in self.sinks:
            sink.close()
