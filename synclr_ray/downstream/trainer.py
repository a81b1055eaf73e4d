"""Running a downstream task on Ray Train, and scoring its checkpoint in a Ray Data actor pool."""

import logging

import numpy as np
import ray
import ray.data
import torch
from ray.data import ExecutionOptions
from ray.train import Checkpoint, CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from synclr_ray import storage
from synclr_ray.cluster import label_selector
from synclr_ray.device import resolve
from synclr_ray.downstream.loop import downstream_loop_per_worker
from synclr_ray.downstream.task import DownstreamTask
from synclr_ray.runroot import save_config
from synclr_ray.train.checkpoint import STATE_FILE, load_checkpoint

log = logging.getLogger(__name__)


def stop_step(task: DownstreamTask, steps: int | None) -> int:
    """The step to stop at: ``steps`` of the configured schedule, or all of it."""
    total = task.section.steps
    if steps is None:
        return total
    if not 1 <= steps <= total:
        raise ValueError(f"steps ({steps}) must be between 1 and the schedule's {total} steps")
    return steps


def fit_task(task: DownstreamTask, train_rows: ray.data.Dataset, run_dir: str, steps: int | None = None) -> Checkpoint:
    """Train ``task`` on ``train_rows`` with Ray Train storage ``run_dir``; resumes from its latest checkpoint.

    Returns the checkpoint at the stop step. Raises the training error after ``max_failures`` restarts.
    """
    # Ray Train executes a lazy dataset again at every epoch; the rows' global shuffle is an all-to-all
    # that holds every row in the object store anyway, so keep its output for the whole run instead
    # (re-running it cost seconds per epoch, more than the steps of a small set).
    train_rows.context.execution_options.preserve_order = True  # the order a checkpoint's data position means
    train_rows = train_rows.materialize()
    tcfg = task.section
    stop = stop_step(task, steps)
    save_config(task.cfg, run_dir)
    filesystem, path = storage.filesystem(run_dir)
    parent, name = path.rstrip("/").rsplit("/", 1)
    trainer = TorchTrainer(
        downstream_loop_per_worker,
        train_loop_config={"task": task, "run_dir": run_dir, "stop_step": stop},
        scaling_config=ScalingConfig(
            num_workers=tcfg.num_workers,
            use_gpu=tcfg.use_gpu,
            resources_per_worker={"CPU": tcfg.cpus_per_worker},
            label_selector=label_selector(task.cfg.ray.training_label),
        ),
        run_config=RunConfig(
            name=name,
            storage_path=parent,
            storage_filesystem=filesystem,
            checkpoint_config=CheckpointConfig(num_to_keep=tcfg.keep_checkpoints),
            failure_config=FailureConfig(max_failures=tcfg.max_failures),
        ),
        datasets={"train": train_rows},
        # A fixed row order makes the data position in a checkpoint mean the same rows on resume.
        dataset_config=DataConfig(execution_options=ExecutionOptions(preserve_order=True)),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    if result.checkpoint is None:
        raise RuntimeError(f"training under {run_dir} produced no checkpoint")
    with result.checkpoint.as_directory() as directory:
        reached = storage.read_json(f"{directory}/{STATE_FILE}")["step"]
    if reached != stop:
        raise RuntimeError(f"the latest checkpoint under {run_dir} is at step {reached}, not {stop}")
    return result.checkpoint


class CheckpointPredictor:
    """Ray Data actor: the task's module with a checkpoint's weights, applied to evaluation rows."""

    def __init__(self, task: DownstreamTask, checkpoint: Checkpoint) -> None:
        self.task = task
        self.device = resolve().device
        self.module = task.build()
        with checkpoint.as_directory() as directory:
            load_checkpoint(directory, self.module)
        self.module.to(self.device).eval()

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return self.task.predict(self.module, rows, self.device)


def predict(task: DownstreamTask, rows: ray.data.Dataset, checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    """``task.predict`` over every row, in the eval section's actor pool; the outputs concatenated."""
    ecfg = task.cfg.eval
    outputs = rows.map_batches(
        CheckpointPredictor,
        fn_constructor_kwargs={"task": task, "checkpoint": checkpoint},
        batch_size=ecfg.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=ecfg.pool.min_size, max_size=ecfg.pool.max_size),
        num_cpus=1,
        num_gpus=ecfg.num_gpus,
    )
    columns: dict[str, list[np.ndarray]] = {}
    for batch in outputs.iter_batches(batch_size=None, batch_format="numpy"):
        for key, value in batch.items():
            columns.setdefault(key, []).append(value)
    if not columns:
        raise ValueError("the evaluation split has no images")
    return {key: np.concatenate(parts) for key, parts in columns.items()}
