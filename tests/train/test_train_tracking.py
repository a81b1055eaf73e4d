"""Training metrics every log step: to Ray Train, TensorBoard events under ROOT/train/, an MLflow and a W&B run."""

import json
import logging
import struct
import sys
from pathlib import Path

import pytest
import ray.cloudpickle
from gratings import write_image_rows
from mlflow.tracking import MlflowClient
from ray.train.v2._internal.execution.callback import ReportCallback
from tensorboardX.proto.event_pb2 import Event
from wandb.proto.wandb_internal_pb2 import Record

from synclr_ray.config import ConfigError, load_config
from synclr_ray.train.stage import run_pretrain
from synclr_ray.train.tracking import WandbLog, check_tracking, mlflow_tracking_uri, quiet_ray_train_reports

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


def _wandb_records(path: Path) -> list[Record]:
    """The records of a W&B transaction log (a ':W&B' header, then LevelDB log framing in 32 KiB blocks)."""
    data, offset, pending, records = path.read_bytes(), 7, b"", []
    assert data.startswith(b":W&B")
    while offset + 7 <= len(data):
        if (left := 32768 - offset % 32768) < 7:  # a block's tail too short for a header is padding
            offset += left
            continue
        length, kind = struct.unpack("<HB", data[offset + 4 : offset + 7])
        pending += data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            records.append(Record.FromString(pending))
            pending = b""
    return records


def _key(item) -> str:
    return item.key or ".".join(item.nested_key)


def _wandb_run(folder: Path) -> tuple[str, dict[str, str], dict[int, float]]:
    """(run id, config, step -> loss) of the offline W&B runs under ``folder``, in the order they ran."""
    run_id, config, losses = "", {}, {}
    for log in sorted(folder.glob("wandb/offline-run-*/run-*.wandb")):
        for record in _wandb_records(log):
            if record.HasField("run"):
                run_id = record.run.run_id
                config.update({_key(item): json.loads(item.value_json) for item in record.run.config.update})
            if record.HasField("history"):
                items = {_key(item): json.loads(item.value_json) for item in record.history.item}
                if "loss" in items:
                    losses[items["_step"]] = items["loss"]
    return run_id, config, losses


class ReportLog(ReportCallback):
    """What Ray Train's controller receives from ``ray.train.report``: one line per report in ``path``.
    (A callback named in RAY_TRAIN_CALLBACKS is one of Ray Train's own, so it takes their interface.)"""

    path = ""

    def after_report(self, training_report, metrics) -> None:
        line = {"step": metrics[0].get("step"), "checkpoint": training_report.checkpoint is not None}
        with open(self.path, "a") as out:
            out.write(json.dumps(line) + "\n")


@pytest.mark.slow  # a 4-step pretraining run: ~30-70 s here
def test_pretrain_logs_every_step_to_ray_train_tensorboard_mlflow_and_wandb(ray_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # this process reads the folder store back
    ReportLog.path = str(tmp_path / "reports.jsonl")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the controller cannot import tests/
    monkeypatch.setenv("RAY_TRAIN_CALLBACKS", f"{__name__}.ReportLog")  # Ray Train's own hook for callbacks
    root = tmp_path / "run"
    write_image_rows(root / "images", 8, size=48)
    tracked = ["tracking.mlflow.enabled=true", "tracking.wandb.enabled=true", "tracking.wandb.mode=offline"]
    run_pretrain(load_config("tiny", [*SMALL, *tracked]), str(root))

    reports = [json.loads(line) for line in (tmp_path / "reports.jsonl").read_text().splitlines()]
    assert [r["step"] for r in reports if not r["checkpoint"]] == [1, 2, 3, 4]  # every log step, not only checkpoints
    losses = _scalars(root / "train" / "tensorboard", "train/loss")
    assert sorted(losses) == [1, 2, 3, 4]

    client = MlflowClient((tmp_path / "mlruns").as_uri())  # the default: mlruns/ beside the run root
    (run,) = client.search_runs([client.get_experiment_by_name("synclr").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["train.steps"] == "4"
    history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "loss")}
    assert history == pytest.approx(losses, rel=1e-6)  # the same records in every sink
    run_id, config, wandb_losses = _wandb_run(root / "train")
    assert run_id == json.loads((root / "train" / "wandb.json").read_text())["run_id"]
    assert config["train.steps"] == 4 and wandb_losses == pytest.approx(losses, rel=1e-6)
    assert (root / "figures" / "training.png").read_bytes().startswith(b"\x89PNG")


def test_mlflow_tracking_uri_defaults_beside_a_local_root_and_is_required_on_object_stores(tmp_path):
    cfg = load_config("tiny", ["tracking.mlflow.enabled=true"])
    assert mlflow_tracking_uri(cfg, str(tmp_path / "run" / "train")) == (tmp_path / "mlruns").as_uri()
    with pytest.raises(ConfigError, match="tracking.mlflow.tracking_uri: required"):
        mlflow_tracking_uri(cfg, "gs://bucket/run/train")
    given = load_config("tiny", ["tracking.mlflow.tracking_uri=http://mlflow:5000"])
    assert mlflow_tracking_uri(given, "gs://bucket/run/train") == "http://mlflow:5000"


def test_a_resumed_run_continues_its_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = load_config("tiny", ["tracking.wandb.enabled=true", "tracking.wandb.mode=offline"])
    run_dir = str(tmp_path / "run" / "train")
    for steps in ([1, 2], [3]):  # a run, then its resumption
        sink = WandbLog(cfg, run_dir)
        for step in steps:
            sink.log({"step": step, "loss": 1.0 / step})
        sink.close()
    run_id, config, losses = _wandb_run(tmp_path / "run" / "train")
    assert len(list((tmp_path / "run" / "train" / "wandb").glob("offline-run-*"))) == 2
    assert run_id == json.loads((tmp_path / "run" / "train" / "wandb.json").read_text())["run_id"]
    assert losses == {1: 1.0, 2: 0.5, 3: pytest.approx(1 / 3)} and config["train.steps"] == cfg.train.steps


def test_online_wandb_without_an_api_key_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))  # no `wandb login` either
    cfg = load_config("tiny", ["tracking.wandb.enabled=true"])
    with pytest.raises(ConfigError, match="tracking.wandb.mode=online: no W&B API key"):
        check_tracking(cfg, str(tmp_path / "train"))
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    check_tracking(cfg, str(tmp_path / "train"))


def test_ray_trains_per_report_info_line_is_silenced_and_its_warnings_kept(caplog):
    from ray.train.v2._internal.execution import context

    reports = logging.getLogger(context.__file__)
    level = reports.level
    try:
        quiet_ray_train_reports()
        with caplog.at_level(logging.INFO):
            reports.info("Reporting training result 1")
            reports.warning("a warning")
        assert [record.getMessage() for record in caplog.records if record.name == reports.name] == ["a warning"]
    finally:
        reports.setLevel(level)
