"""Training checkpoints: model (student + teacher), optimizer, step and data position.

A checkpoint directory holds ``model.safetensors`` (the whole SynCLR module, shared tensors
handled by safetensors), ``optimizer.pt`` (loaded with ``weights_only=True``) and
``state.json`` (step, and the data position: the pass and batches of it already trained on for
stored rows, the stream position for a generation stream). Schedules are pure functions of the
step, so nothing else is needed to continue exactly where a run stopped.
"""

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import ray.train
import torch
from safetensors.torch import load_model, save_model

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "state.json"


@dataclass
class TrainState:
    """Where training stands: optimiser steps done and the data position of the next batch."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    stream: dict[str, Any] | None = None  # a generation stream's position (`train.position`)


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


def report(
    metrics: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainState, rank: int
) -> None:
    """Report ``metrics`` with a checkpoint written by rank 0; a barrier every rank must reach."""
    if rank != 0:
        ray.train.report(metrics, checkpoint=None)
        return
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(directory, model, optimizer, state)
        ray.train.report(
            metrics,
            checkpoint=ray.train.Checkpoint.from_directory(directory),
            checkpoint_dir_name=f"checkpoint_{state.step:08d}",
        )
