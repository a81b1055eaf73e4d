"""Stage 3: pretraining with a Ray Train ``TorchTrainer`` fed by Ray Data, then the encoder export.

Rerunning resumes from the run's latest checkpoint; a run already at its last step only
re-exports. ``steps`` stops a run early at that step of the configured schedule
(``train.steps``), so a later run with more steps continues the same schedule.
"""

import logging
import tempfile
from pathlib import Path
from typing import Any

import ray
import ray.data
from ray.actor import ActorHandle
from ray.train import Checkpoint, CheckpointConfig, DataConfig, FailureConfig, Result, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from synclr_ray import exports, rows, storage
from synclr_ray.cluster import data_options, label_selector
from synclr_ray.config import Config
from synclr_ray.encoder import WEIGHTS_FILE, export_encoder
from synclr_ray.leases import holds_lease
from synclr_ray.modelcard import write_model_card
from synclr_ray.runroot import RunRoot, save_config
from synclr_ray.train import guards
from synclr_ray.train.backbone import backbone_model_args
from synclr_ray.train.checkpoint import TrainState, load_checkpoint
from synclr_ray.train.figures import write_training_figure
from synclr_ray.train.loop import METRICS_FILE, train_loop_per_worker
from synclr_ray.train.objective import SynCLR
from synclr_ray.train.order import shuffled_rows
from synclr_ray.train.tracking import check_tracking

log = logging.getLogger(__name__)

PROBE_FILE = "probe.json"  # ROOT/eval/probe.json: where `synclr demo` and the README put `synclr probe --out`


def stop_step(cfg: Config, steps: int | None) -> int:
    """The step a run stops at: ``steps`` of the configured schedule, or its end (``train.steps``)."""
    if steps is None:
        return cfg.train.steps
    if not 1 <= steps <= cfg.train.steps:
        raise ValueError(f"steps ({steps}) must be between 1 and train.steps ({cfg.train.steps})")
    return steps


def fit(
    cfg: Config,
    dataset: ray.data.Dataset,
    storage_uri: str,
    steps: int | None = None,
    stream: Any = None,
    epoch_clock: ActorHandle | None = None,
    data_label: str | None = None,
) -> Result:
    """Train on any Ray Dataset of image rows (`rows.TRAINING_COLUMNS` of `rows.IMAGE_SCHEMA`).

    ``storage_uri`` (local or s3://) is the Ray Train run directory: checkpoints, ``metrics.jsonl``
    and ``_config.yaml``. A run there already resumes from its latest checkpoint. ``epoch_clock``
    is the clock of a ``shuffled_rows`` dataset (the ranks post their epoch on it). Raises the
    training error if the run failed after ``train.max_failures`` restarts, and `TrainingStopped`
    if a guard stopped it (too many non-finite losses in a row, or undecodable images).

    A stored dataset is read pass after pass, and a checkpoint records the batch of the pass to
    resume at. A generation stream is read once: ``stream`` is the actor that steers it (see
    synclr_ray/pipeline.py), a checkpoint records the stream position (`train.position`), and rank 0
    hands it to ``stream.resume_at(position)`` before any rank reads and reports each trained batch's
    last row key to ``stream.trained(key)``. ``data_label`` is the ``ray-subcluster`` group whose nodes run
    the dataset's own tasks and actors (`cluster.data_options`).
    """
    tcfg = cfg.train
    last_step = stop_step(cfg, steps)
    check_tracking(cfg, storage_uri)
    save_config(cfg, storage_uri)
    filesystem, path = storage.filesystem(storage_uri)
    parent, name = path.rstrip("/").rsplit("/", 1)
    # A deterministic row order makes the data position in a checkpoint mean the same rows on resume.
    execution = data_options(data_label, preserve_order=True)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "cfg": cfg,
            "run_dir": storage_uri,
            "stop_step": last_step,
            "stream": stream,
            "epoch_clock": epoch_clock,
        },  # fmt: skip
        scaling_config=ScalingConfig(
            num_workers=tcfg.num_workers,
            use_gpu=tcfg.use_gpu,
            resources_per_worker={"CPU": tcfg.cpus_per_worker},
            label_selector=label_selector(cfg.ray.training_label),
        ),
        run_config=RunConfig(
            name=name,
            storage_path=parent,
            storage_filesystem=filesystem,
            checkpoint_config=CheckpointConfig(num_to_keep=tcfg.keep_checkpoints),
            failure_config=FailureConfig(max_failures=tcfg.max_failures),
        ),
        datasets={"train": dataset},
        dataset_config=DataConfig(execution_options=execution),
    )
    guards.clear_stop(storage_uri)
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    guards.raise_if_stopped(storage_uri)
    return result


def export_checkpoint(
    cfg: Config, checkpoint: Checkpoint, export_root: str, probe_json: str | None = None
) -> tuple[TrainState, str]:
    """Publish the teacher backbone of a training checkpoint as a new version of ``export_root`` (timm
    weights, config, the resolved config and a model card); returns the checkpoint's state and the version's URI.

    ``probe_json`` (a `synclr probe --out` report) enters the card if it measured these same weights.
    Non-finite weights are refused: nothing is published from them.
    """
    model = SynCLR(cfg.train)
    with checkpoint.as_directory() as directory:
        state = load_checkpoint(directory, model)
    size = cfg.train.crops.global_size
    with tempfile.TemporaryDirectory() as tmp:
        try:
            export_encoder(
                model.teacher_backbone, tmp, image_size=size, model_args=backbone_model_args(cfg.train.backbone, size)
            )
        except ValueError as exc:
            raise ValueError(f"checkpoint {checkpoint.path} (step {state.step}): {exc}") from None
        save_config(cfg, tmp)
        info = {
            "architecture": cfg.train.backbone.name,
            "image_size": size,
            "feature_dim": int(model.teacher_backbone.num_features),
            "digest": f"sha256:{exports.file_digest(Path(tmp) / WEIGHTS_FILE)}",
        }
        probe = storage.read_json(probe_json) if probe_json and storage.exists(probe_json) else None
        write_model_card(Path(tmp), cfg, info, state, probe)
        version = exports.publish(Path(tmp), export_root, state.step)
    return state, version


def read_image_rows(images_uri: str, seed: int, window_rows: int) -> tuple[ray.data.Dataset, ActorHandle]:
    """The committed image rows of a folder (ROOT/images, ROOT/stream, or rows of your own written with
    `rows.write_rows`) with the columns the trainer reads, in a new order every epoch seeded by (``seed``, epoch)
    (`synclr_ray.train.order`), and the clock to pass to `fit`."""
    hint = "run `synclr images`, or pass --images a folder of committed image rows (ROOT/images, ROOT/stream)"
    files = rows.committed_files(images_uri, "image rows", hint)
    return shuffled_rows(files, rows.TRAINING_COLUMNS, seed, window_rows)


@holds_lease("train")
def run_pretrain(cfg: Config, root: str, images_uri: str | None = None, steps: int | None = None) -> dict[str, Any]:
    """Pretrain on the committed image rows of ``images_uri`` (default ROOT/images) with Ray Train storage
    ROOT/train; export to ROOT/export."""
    run = RunRoot(root)
    dataset, clock = read_image_rows(images_uri or run.images, cfg.seed, cfg.train.shuffle_window)
    result = fit(cfg, dataset, run.train, steps, epoch_clock=clock, data_label=cfg.ray.training_label)
    if result.checkpoint is None:
        raise RuntimeError(f"training under {run.train} produced no checkpoint")
    state, version = export_checkpoint(cfg, result.checkpoint, run.export, storage.join(run.eval, PROBE_FILE))
    log.info("exported the teacher encoder at step %d to %s", state.step, version)
    figure = write_training_figure(storage.join(run.train, METRICS_FILE), storage.join(run.figures, "training.png"))
    log.info("training curves: %s", figure)
    return {"step": state.step, "train": run.train, "checkpoint": result.checkpoint.path, "export": version,
            "skipped_steps": state.skipped_steps, "bad_records": state.bad_records}  # fmt: skip
