"""The Ray Train loop run by every DDP rank: AdamW, per-step schedules, checkpoints, progress.

Every step is a pure function of (weights, batch, step): the schedules are indexed by step, drop
path is seeded from (seed, step, rank) and the iBOT masks from (seed, step) for the whole global
batch, so a run resumed from a checkpoint continues exactly as the uninterrupted run would have,
and N ranks mask exactly the images one process would. A step whose loss (or gradient norm) is
not finite on any rank is skipped on all of them (`synclr_ray.train.guards`).
"""

import json
import logging
import time
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from synclr_ray import seeds, storage
from synclr_ray.config import Config
from synclr_ray.device import resolve
from synclr_ray.train import checkpoint, guards
from synclr_ray.train.ingest import CaptionBatches, CropBatch
from synclr_ray.train.masking import MaskGenerator
from synclr_ray.train.objective import LOSS_TERMS, SynCLR
from synclr_ray.train.position import StreamPosition
from synclr_ray.train.schedules import Schedules, StepValues
from synclr_ray.train.tracking import Tracker

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


def global_batch_masks(masks: MaskGenerator, num_images: int, seed: int, rank: int, world: int) -> torch.Tensor:
    """This rank's rows of the masks drawn for the whole global batch (the ranks' batches in rank order).

    The draw depends on ``seed`` and the global batch size only, so the same images are masked
    however many ranks share the batch; each rank draws only its own images' masks.
    """
    rows = range(rank * num_images, (rank + 1) * num_images)
    return masks(num_images * world, torch.Generator().manual_seed(seed), rows)


class MetricsLog:
    """Rank 0's progress: a line per ``log_every`` steps and ``metrics.jsonl`` in the run directory."""

    def __init__(self, run_dir: str, total_steps: int, resumed_step: int) -> None:
        self.uri = storage.join(run_dir, METRICS_FILE)
        self.total_steps = total_steps
        previous = storage.read_text(self.uri).splitlines() if storage.exists(self.uri) else []
        # A restarted run repeats the steps after its checkpoint: keep only what precedes it.
        self.lines = [line for line in previous if json.loads(line)["step"] <= resumed_step]

    def write(self, record: dict[str, Any]) -> None:
        terms = " ".join(f"{name} {record[name]:.4f}" for name in LOSS_TERMS)
        log.info(
            "step %d/%d loss %.4f (%s) lr %.3g %.1f img/s data-wait %.1f%%",
            record["step"], self.total_steps, record["loss"], terms, record["lr"],
            record["images_per_s"], 100 * record["data_wait"],
        )  # fmt: skip
        self.lines.append(json.dumps(record))
        storage.write_text(self.uri, "\n".join(self.lines) + "\n")


def _sum_over_ranks(values: list[float], device: torch.device) -> list[float]:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def _mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= dist.get_world_size()
    return dict(zip(values, tensor.tolist(), strict=True))


def _set_schedule(optimizer: torch.optim.Optimizer, values: StepValues) -> None:
    for group in optimizer.param_groups:
        group["lr"] = values.lr
        group["weight_decay"] = values.weight_decay if group["apply_wd"] else 0.0


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """One DDP rank. ``config``: ``cfg`` (Config), ``run_dir`` (URI), ``stop_step`` (int), ``stream`` (None, or
    the actor a generation stream starts from: see `fit`), ``epoch_clock`` (None, or a ``shuffled_rows`` clock)."""
    cfg: Config = config["cfg"]
    tcfg = cfg.train
    run_dir, stop_step, stream = config["run_dir"], config["stop_step"], config["stream"]
    context = ray.train.get_context()
    rank = context.get_world_rank()
    device = ray.train.torch.get_device()

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    module = SynCLR(tcfg)
    model = ray.train.torch.prepare_model(module, parallel_strategy_kwargs={"find_unused_parameters": True})
    module = model.module if hasattr(model, "module") else model
    optimizer = torch.optim.AdamW(module.param_groups(), lr=0.0, betas=tcfg.optim.betas)
    state = checkpoint.restore(module, optimizer)
    if state.step:
        log.info("rank %d resumed at step %d (epoch %d, batch %d)", rank, state.step, state.epoch, state.batch_in_epoch)

    schedules = Schedules(tcfg)
    masks = MaskGenerator(tcfg.mask, module.grid) if tcfg.loss.ibot else None
    if stream is not None and state.step and state.stream is None:
        raise RuntimeError(
            f"the checkpoint of step {state.step} under {run_dir} holds no stream position (written by `synclr "
            "pretrain`, or by a synclr-ray before row format 2): stream into a new --root"
        )
    position = StreamPosition(state.stream) if stream is not None else None
    if stream is not None and rank == 0:
        # Before any rank reads: the stream's plan executes once all ranks read, from this position.
        ray.get(stream.resume_at.remote(state.stream))
    passes = 1 if stream is not None else None  # a stream goes on from its position instead of restarting
    batches = CaptionBatches(ray.train.get_dataset_shard("train"), tcfg, cfg.seed, rank, passes, config["epoch_clock"])
    metrics = MetricsLog(run_dir, stop_step, state.step) if rank == 0 else None
    # Measured on an AVX512-BF16 CPU: bf16 is no faster than fp32 at the tiny preset's shapes, so CPUs train in fp32.
    compute = resolve(tcfg.precision, device=device, cpu_precision="fp32")
    autocast = compute.autocast()
    if compute.precision != tcfg.precision and rank == 0:
        log.info("train.precision=%s applies on GPUs; training in %s on %s", tcfg.precision, compute.precision,
                 device.type)  # fmt: skip
    world = context.get_world_size()

    if state.step >= stop_step:
        return
    tracker = Tracker(cfg, run_dir, state.step, rank)
    health = guards.Guards(tcfg, run_dir, stop_step, last_checkpoint=state.step or None)
    window_start, window_wait, window_images = time.perf_counter(), 0.0, 0
    ready = time.perf_counter()
    start = (0, 0) if stream is not None else (state.epoch, state.batch_in_epoch)
    for epoch, index, batch in batches.stream(*start):
        window_wait += time.perf_counter() - ready
        values = schedules.at(state.step)
        batch_masks = None
        if masks is not None:
            batch_masks = global_batch_masks(masks, batch.num_images, seeds.derive(cfg.seed, state.step, "masks"), rank,
                                             world)  # fmt: skip
        out, skipped = train_step(model, module, optimizer, batch, batch_masks, values, autocast, device,
                                  tcfg.optim.grad_clip, seeds.derive(cfg.seed, state.step, rank),
                                  force_nan=state.step + 1 in tcfg.test_nan_loss_steps)  # fmt: skip
        state.step, state.epoch, state.batch_in_epoch = state.step + 1, epoch, index + 1
        if position is not None:
            position.trained(batch.keys)
            if rank == 0:
                stream.trained.remote(list(max(batch.keys)))  # lets the stream plan further ahead
        window_images += batch.num_images * world
        for caption_id, image_index, reason in batch.bad_records:
            log.warning("rank %d: caption %s image %d could not be decoded (%s): replaced by another image of "
                        "its caption", rank, caption_id, image_index, reason)  # fmt: skip
        if skipped and rank == 0:
            log.warning("step %d: non-finite loss, step skipped (no optimiser or EMA update)", state.step)
        bad, images = _sum_over_ranks([len(batch.bad_records), batch.num_images], device)
        example = "caption {} image {}: {}".format(*batch.bad_records[0]) if batch.bad_records else None
        stop = health.update(state, skipped, int(bad), int(images), example)
        if stop is not None:
            if rank == 0:
                guards.record_stop(run_dir, state.step, stop)
            return
        if state.step % tcfg.log_every == 0 or state.step == stop_step:
            elapsed = time.perf_counter() - window_start
            record = {"step": state.step, **_mean_over_ranks(out, device), "lr": values.lr,
                      "weight_decay": values.weight_decay, "momentum": values.momentum,
                      "teacher_temp": values.teacher_temp, "images_per_s": window_images / elapsed,
                      "data_wait": window_wait / elapsed, "epoch": state.epoch,
                      "skipped_steps": state.skipped_steps, "bad_records": state.bad_records}  # fmt: skip
            if metrics is not None:
                metrics.write(record)
            tracker.log(record)  # every rank: ray.train.report is a barrier
            window_start, window_wait, window_images = time.perf_counter(), 0.0, 0
        if state.step % tcfg.checkpoint_every == 0 or state.step == stop_step:
            if position is not None:
                state.stream = position.agree()
            checkpoint.report({"step": state.step}, module, optimizer, state, rank, run_dir)
            health.last_checkpoint = state.step
        if state.step == stop_step:
            tracker.close()
            break
        ready = time.perf_counter()
    else:
        raise RuntimeError(
            f"the generation stream ended at step {state.step} of {stop_step}: fewer prompts than expected became "
            "captions; raise captions.oversample and rerun to continue from the last checkpoint"
        )


def train_step(
    model: torch.nn.Module,
    module: SynCLR,
    optimizer: torch.optim.Optimizer,
    batch: CropBatch,
    masks: torch.Tensor | None,
    values: StepValues,
    autocast: torch.autocast,
    device: torch.device,
    grad_clip: float,
    seed: int,
    force_nan: bool = False,
) -> tuple[dict[str, float], bool]:
    """One optimiser step and EMA update on this rank's batch and iBOT ``masks``; returns the loss terms
    and whether the step was skipped.

    ``seed`` seeds the rank's own random draws (drop path). A loss or gradient norm that is not finite
    on any rank skips the update on every rank (DDP ranks must stay identical). ``force_nan`` (the
    ``train.test_nan_loss_steps`` hook) makes the loss NaN.
    """
    torch.manual_seed(seed)
    batch_masks = masks.to(device) if masks is not None else None
    local_crops = batch.local_crops.to(device).float() if batch.local_crops is not None else None
    _set_schedule(optimizer, values)
    # Forward passes may update buffers (none with the LayerNorm heads, but a backbone may have some): a skipped
    # step restores them too.
    buffers = [(buffer, buffer.clone()) for buffer in module.buffers()]
    with autocast:
        out = model(batch.global_crops.to(device).float(), local_crops, batch.labels.to(device), batch_masks,
                    values.teacher_temp)  # fmt: skip
    if force_nan:
        out["loss"] = out["loss"] * float("nan")
    optimizer.zero_grad(set_to_none=True)
    out["loss"].backward()  # on every rank, finite or not: DDP's gradient all-reduce needs all of them
    finite = bool(torch.isfinite(out["loss"].detach()))
    if grad_clip:
        finite &= bool(torch.isfinite(torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip)))
    skipped = _sum_over_ranks([0.0 if finite else 1.0], device)[0] > 0
    if skipped:
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for buffer, before in buffers:
                buffer.copy_(before)
    else:
        optimizer.step()
        module.update_teacher(values.momentum)
    return {name: float(value.detach()) for name, value in out.items()}, skipped
