"""The Ray Train loop of every downstream run: AdamW with layer decay, timm schedule, checkpoints, progress.

Like pretraining's loop, every step is a pure function of (weights, batch, step): the schedule is
indexed by step and the random state (drop path, mixup) is seeded from (seed, step, rank), so a run
resumed from a checkpoint continues exactly as the uninterrupted run would have.
"""

import json
import logging
import time
from typing import Any

import numpy as np
import ray.train
import ray.train.torch
import torch

from synclr_ray import seeds, storage
from synclr_ray.device import resolve
from synclr_ray.downstream.batches import AugmentedBatches
from synclr_ray.downstream.optim import layer_decay_groups
from synclr_ray.downstream.task import DownstreamTask
from synclr_ray.train import checkpoint

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


class StepLog:
    """Rank 0's progress: a line per ``log_every`` steps, and ``metrics.jsonl`` in the run directory."""

    def __init__(self, run_dir: str, total_steps: int, resumed_step: int) -> None:
        self.uri = storage.join(run_dir, METRICS_FILE)
        self.total_steps = total_steps
        previous = storage.read_text(self.uri).splitlines() if storage.exists(self.uri) else []
        # A restarted run repeats the steps after its checkpoint: keep only what precedes it.
        self.lines = [line for line in previous if json.loads(line)["step"] <= resumed_step]

    def write(self, record: dict[str, Any]) -> None:
        log.info(
            "step %d/%d loss %.4f lr %.3g %.1f img/s",
            record["step"], self.total_steps, record["loss"], record["lr"], record["images_per_s"],
        )  # fmt: skip
        self.lines.append(json.dumps(record))
        storage.write_text(self.uri, "\n".join(self.lines) + "\n")


def downstream_loop_per_worker(config: dict[str, Any]) -> None:
    """One DDP rank. ``config``: ``task`` (DownstreamTask), ``run_dir`` (URI), ``stop_step`` (int)."""
    task: DownstreamTask = config["task"]
    run_dir, stop_step = config["run_dir"], config["stop_step"]
    tcfg, seed = task.section, task.cfg.seed
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()

    torch.manual_seed(seed)  # identical initial heads on every rank
    module = task.build().to(device)
    model = ray.train.torch.prepare_model(task.trained(module), move_to_device=False)
    groups = layer_decay_groups(task.trained(module), task.encoder(module), tcfg.weight_decay, tcfg.layer_decay)
    optimizer = torch.optim.AdamW(groups, lr=tcfg.lr)
    scheduler = task.scheduler(optimizer)
    state = checkpoint.restore(module, optimizer)
    if state.step:
        log.info("rank %d resumed at step %d (epoch %d, batch %d)", rank, state.step, state.epoch, state.batch_in_epoch)
    if state.step >= stop_step:
        return
    batches = AugmentedBatches(ray.train.get_dataset_shard("train"), task.augment, tcfg, seed)
    metrics = StepLog(run_dir, stop_step, state.step) if rank == 0 else None
    autocast = resolve(tcfg.precision, device=device, cpu_precision="fp32").autocast()
    window_start, window_images = time.perf_counter(), 0
    for epoch, index, batch in batches.stream(state.epoch, state.batch_in_epoch):
        sample_seed = seeds.derive(seed, state.step, rank)
        torch.manual_seed(sample_seed)
        np.random.seed(sample_seed % 2**32)  # timm's Mixup draws from numpy's global generator
        scheduler.step_update(state.step)
        model.train()
        with autocast:
            loss = task.loss(model, batch, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        task.after_step(module)
        state.step, state.epoch, state.batch_in_epoch = state.step + 1, epoch, index + 1
        window_images += len(next(iter(batch.values()))) * world
        if metrics is not None and (state.step % tcfg.log_every == 0 or state.step == stop_step):
            elapsed = time.perf_counter() - window_start
            lr = max(group["lr"] for group in optimizer.param_groups)
            metrics.write({"step": state.step, "loss": float(loss.detach()), "lr": lr,
                           "images_per_s": window_images / elapsed, "epoch": state.epoch})  # fmt: skip
            window_start, window_images = time.perf_counter(), 0
        if state.step % tcfg.checkpoint_every == 0 or state.step == stop_step:
            checkpoint.report({"step": state.step}, module, optimizer, state, rank, run_dir)
        if state.step == stop_step:
            break
