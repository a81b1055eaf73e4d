"""Training metrics every log step: to Ray Train, TensorBoard events under ROOT/train/ and an MLflow run."""

import json
import struct
import sys
from pathlib import Path

import pytest
import ray.cloudpickle
from gratings import write_image_rows
from mlflow.tracking import MlflowClient
from ray.train.v2._internal.execution.callback import ReportCallback
from tensorboardX.proto.event_pb2 import Event

from synclr_ray.config import ConfigError, load_config
from synclr_ray.train.stage import run_pretrain
from synclr_ray.train.tracking import mlflow_tracking_uri

SMALL = ["train.batch_captions=4", "train.steps=4", "train.optim.warmup_steps=1", "train.checkpoint_every=4",
         "train.log_every=1", "train.loader_tasks=1", "ray.progress_bars=false"]  # fmt: skip


def _scalars(folder: Path, tag: str) -> dict[int, float]:
    """Step -> value of one scalar tag in TensorBoard event files (TFRecord framing: length, crc, event, crc)."""
    values = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 16 + length
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = value.simple_value
    return values


class ReportLog(ReportCallback):
    """What Ray Train's controller receives from ``ray.train.report``: one line per report in ``path``.
    (A callback named in RAY_TRAIN_CALLBACKS is one of Ray Train's own, so it takes their interface.)"""

    path = ""

    def after_report(self, training_report, metrics) -> None:
        line = {"step": metrics[0].get("step"), "checkpoint": training_report.checkpoint is not None}
        with open(self.path, "a") as out:
            out.write(json.dumps(line) + "\n")


@pytest.mark.slow  # a 4-step pretraining run: ~30-70 s here
def test_pretrain_logs_every_step_to_ray_train_tensorboard_and_mlflow(ray_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # this process reads the folder store back
    ReportLog.path = str(tmp_path / "reports.jsonl")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the controller cannot import tests/
    monkeypatch.setenv("RAY_TRAIN_CALLBACKS", f"{__name__}.ReportLog")  # Ray Train's own hook for callbacks
    root = tmp_path / "run"
    write_image_rows(root / "images", 8, size=48)
    run_pretrain(load_config("tiny", [*SMALL, "tracking.mlflow.enabled=true"]), str(root))

    reports = [json.loads(line) for line in (tmp_path / "reports.jsonl").read_text().splitlines()]
    assert [r["step"] for r in reports if not r["checkpoint"]] == [1, 2, 3, 4]  # every log step, not only checkpoints
    losses = _scalars(root / "train" / "tensorboard", "train/loss")
    assert sorted(losses) == [1, 2, 3, 4]

    client = MlflowClient((tmp_path / "mlruns").as_uri())  # the default: mlruns/ beside the run root
    (run,) = client.search_runs([client.get_experiment_by_name("synclr").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["train.steps"] == "4"
    history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "loss")}
    assert history == pytest.approx(losses, rel=1e-6)  # the same records in both sinks
    assert (root / "figures" / "training.png").read_bytes().startswith(b"\x89PNG")


def test_mlflow_tracking_uri_defaults_beside_a_local_root_and_is_required_on_object_stores(tmp_path):
    cfg = load_config("tiny", ["tracking.mlflow.enabled=true"])
    assert mlflow_tracking_uri(cfg, str(tmp_path / "run" / "train")) == (tmp_path / "mlruns").as_uri()
    with pytest.raises(ConfigError, match="tracking.mlflow.tracking_uri: required"):
        mlflow_tracking_uri(cfg, "gs://bucket/run/train")
    given = load_config("tiny", ["tracking.mlflow.tracking_uri=http://mlflow:5000"])
    assert mlflow_tracking_uri(given, "gs://bucket/run/train") == "http://mlflow:5000"
