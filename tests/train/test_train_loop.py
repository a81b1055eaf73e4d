"""The training step: 2 DDP ranks (gloo, torch.multiprocessing) take exactly the step 1 process takes on the same batch.

Crops are injected (identical on both sides) and the iBOT masks come from the loop's own draw
for the global batch. A per-rank BatchNorm, a missing all-gather of negatives or of Sinkhorn
sums, or a per-rank normaliser would all make the two differ.
"""

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from synclr_ray.config import load_config
from synclr_ray.config.train import TrainConfig
from synclr_ray.seeds import derive
from synclr_ray.train.ingest import CropBatch
from synclr_ray.train.loop import _mean_over_ranks, global_batch_masks, train_step
from synclr_ray.train.masking import MaskGenerator
from synclr_ray.train.objective import SynCLR
from synclr_ray.train.schedules import Schedules

WORLD = 2
CAPTIONS, IMAGES = 4, 4  # global batch: 4 captions x 4 images
STEP = 3
SEED = 0


def config() -> TrainConfig:
    # No warmup: step 3 has the peak lr, and the EMA momentum (0.95 at the start) moves the teacher.
    return load_config("tiny", [f"train.batch_captions={CAPTIONS}", "train.optim.warmup_steps=0"]).train


def global_batch(cfg: TrainConfig) -> CropBatch:
    g = torch.Generator().manual_seed(1)
    images, crops = CAPTIONS * IMAGES, cfg.crops
    return CropBatch(
        global_crops=torch.randn(images, 3, crops.global_size, crops.global_size, generator=g),
        local_crops=torch.randn(images * crops.num_local, 3, crops.local_size, crops.local_size, generator=g),
        labels=torch.arange(CAPTIONS).repeat_interleave(IMAGES),
        caption_ids=[f"c{i}" for i in range(CAPTIONS)],
    )


def rank_batch(batch: CropBatch, rank: int, world: int) -> CropBatch:
    """Rank ``rank``'s whole captions, with global caption labels, as the ingest deals them."""
    images, per_rank = batch.num_images // world, len(batch.caption_ids) // world
    locals_ = batch.local_crops.shape[0] // world
    return CropBatch(
        batch.global_crops[rank * images : (rank + 1) * images],
        batch.local_crops[rank * locals_ : (rank + 1) * locals_],
        batch.labels[rank * images : (rank + 1) * images],
        batch.caption_ids[rank * per_rank : (rank + 1) * per_rank],
    )


def one_step(model: torch.nn.Module, module: SynCLR, cfg: TrainConfig, rank: int, world: int) -> dict:
    """The loop's step on this rank's share of the global batch; returns mean loss terms and the updated weights."""
    batch = rank_batch(global_batch(cfg), rank, world)
    values = Schedules(cfg).at(STEP)
    assert values.lr > 0 and values.momentum < 1
    masks = global_batch_masks(MaskGenerator(cfg.mask, module.grid), batch.num_images, derive(SEED, STEP, "masks"),
                               rank, world)  # fmt: skip
    optimizer = torch.optim.AdamW(module.param_groups(), lr=0.0, betas=cfg.optim.betas)
    # A step later in training, as after a resume: Adam's very first step moves every weight by
    # +-lr whatever its gradient, so fp32 round-off in a ~1e-8 gradient could flip a weight by 2 lr.
    for group in optimizer.param_groups:
        for param in group["params"]:
            optimizer.state[param] = {"step": torch.tensor(float(STEP)), "exp_avg": torch.zeros_like(param),
                                      "exp_avg_sq": torch.full_like(param, 1e-6)}  # fmt: skip
    autocast = torch.autocast("cpu", enabled=False)
    out, _ = train_step(model, module, optimizer, batch, masks, values, autocast, torch.device("cpu"),
                        cfg.optim.grad_clip, derive(SEED, STEP, rank))  # fmt: skip
    return {"losses": _mean_over_ranks(out, torch.device("cpu")), "masks": masks, "weights": module.state_dict()}


def _worker(rank: int, store: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        cfg = config()
        torch.manual_seed(SEED)
        module = SynCLR(cfg)
        model = torch.nn.parallel.DistributedDataParallel(module, find_unused_parameters=True)
        torch.save(one_step(model, module, cfg, rank, WORLD), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ddp_ranks_take_the_same_step_as_one_process(tmp_path: Path):
    mp.spawn(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]

    cfg = config()
    torch.manual_seed(SEED)
    module = SynCLR(cfg)
    initial = {name: value.clone() for name, value in module.state_dict().items()}
    single = one_step(module, module, cfg, rank=0, world=1)

    assert torch.equal(torch.cat([r["masks"] for r in ranks]), single["masks"])  # the same images masked
    assert single["masks"].any(dim=1).sum() == CAPTIONS * IMAGES // 2
    for name in ("contrastive_global", "contrastive_local", "ibot", "loss"):
        assert single["losses"][name] > 0
        for rank in ranks:
            assert rank["losses"][name] == pytest.approx(single["losses"][name], rel=1e-5), name
    moved = 0
    for name, expected in single["weights"].items():
        for rank in ranks:
            torch.testing.assert_close(rank["weights"][name], expected, rtol=0, atol=1e-5, msg=name)
        moved += not torch.equal(expected, initial[name])
    # Both student and EMA teacher took the step.
    assert any(n.startswith("student.") for n in single["weights"] if not torch.equal(single["weights"][n], initial[n]))
    assert any(n.startswith("teacher.") for n in single["weights"] if not torch.equal(single["weights"][n], initial[n]))
    assert moved > len(initial) // 2
