"""Training checkpoints: model (student + teacher), optimizer, step and data position.

A checkpoint directory holds ``model.safetensors`` (the whole SynCLR module, shared tensors
handled by safetensors), ``optimizer.pt`` (loaded with ``weights_only=True``) and
``state.json`` (step, the data position: the pass and batches of it already trained on for
stored rows, the stream position for a generation stream; and the run's health counters).
Schedules are pure functions of the step, so nothing else is needed to continue exactly where a
run stopped. Rank 0 writes a checkpoint straight into the run directory, fsynced before Ray
Train records it, so a recorded checkpoint is always whole on disk.
"""

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import ray.train
import torch
from safetensors.torch import load_model, save_model

from synclr_ray import storage

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "state.json"


@dataclass
class TrainState:
    """Where training stands: steps done, the data position of the next batch, and what was skipped."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    stream: dict[str, Any] | None = None  # a generation stream's position (`train.position`)
    skipped_steps: int = 0  # steps whose loss was not finite: no optimiser or EMA update
    bad_records: int = 0  # images that could not be decoded (replaced by another image of their caption)
    records: int = 0  # images read, over all ranks


def save_checkpoint(
    directory: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainState
) -> None:
    """Write a checkpoint into a local directory."""
    directory = Path(directory)
    save_model(model, str(directory / MODEL_FILE))
    torch.save(optimizer.state_dict(), directory / OPTIMIZER_FILE)
    (directory / STATE_FILE).write_text(json.dumps(asdict(state)))


def load_checkpoint(
    directory: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> TrainState:
    """Load a checkpoint directory into ``model`` (and ``optimizer``); returns its state."""
    directory = Path(directory)
    missing = [n for n in (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE) if not (directory / n).is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoint {directory} lacks {', '.join(missing)}")
    load_model(model, str(directory / MODEL_FILE), device=str(next(model.parameters()).device))
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(directory / OPTIMIZER_FILE, map_location="cpu", weights_only=True))
    return TrainState(**json.loads((directory / STATE_FILE).read_text()))


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainState:
    """Resume from Ray Train's latest checkpoint of this run, if any (else a fresh state)."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return TrainState()
    with checkpoint.as_directory() as directory:
        return load_checkpoint(directory, model, optimizer)


def checkpoint_uri(run_dir: str, step: int) -> str:
    """Where the checkpoint of ``step`` lives in a run directory."""
    return storage.join(run_dir, f"checkpoint_{step:08d}")


def report(
    metrics: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    rank: int,
    run_dir: str,
) -> None:
    """Report ``metrics`` with a checkpoint that rank 0 writes to ``run_dir``; a barrier every rank must reach."""
    if rank != 0:
        ray.train.report(metrics, checkpoint=None)
        return

    def upload(local: ray.train.Checkpoint, name: str) -> ray.train.Checkpoint:
        uri = storage.join(run_dir, name)
        storage.upload_dir(local.path, uri)  # durable before Ray Train lists it as the latest checkpoint
        filesystem, path = storage.filesystem(uri)
        return ray.train.Checkpoint(path=path, filesystem=filesystem)

    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(directory, model, optimizer, state)
        ray.train.report(
            metrics,
            checkpoint=ray.train.Checkpoint.from_directory(directory),
            checkpoint_dir_name=checkpoint_uri(run_dir, state.step).rsplit("/", 1)[1],
            checkpoint_upload_fn=upload,
        )
