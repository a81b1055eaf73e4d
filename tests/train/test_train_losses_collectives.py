"""Two gloo ranks (torch.multiprocessing, no Ray) give the same losses and gradients as one process on the concatenated batch."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from synclr_ray.train.losses.collectives import all_reduce
from synclr_ray.train.losses.contrastive import multi_positive_loss
from synclr_ray.train.losses.ibot import ibot_loss
from synclr_ray.train.losses.sinkhorn import sinkhorn_knopp

WORLD = 2
PER_RANK = 8  # images per rank: 2 captions x 4 images
LOCAL = 2  # local crops per image
DIM, PROTOTYPES, PATCHES = 16, 12, 9


def make_data() -> dict[str, torch.Tensor]:
    """The full batch of both ranks; rank r owns rows [r * PER_RANK, (r + 1) * PER_RANK) (image-major locals)."""
    g = torch.Generator().manual_seed(0)
    images = WORLD * PER_RANK
    masks = torch.rand(images, PATCHES, generator=g) < 0.4
    masks[:PER_RANK] = False  # rank 0 has no masked patch at all: its Sinkhorn collectives must still match
    masks[-1] = True
    return {
        "anchors": F.normalize(torch.randn(images, DIM, generator=g), dim=-1),
        "local_anchors": F.normalize(torch.randn(images * LOCAL, DIM, generator=g), dim=-1),
        "keys": F.normalize(torch.randn(images, DIM, generator=g), dim=-1),
        "masks": masks,
        "student_logits": torch.randn(int(masks.sum()), PROTOTYPES, generator=g),
        "teacher_logits": torch.rand(int(masks.sum()), PROTOTYPES, generator=g) * 2 - 1,
    }


def losses(data: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """All loss terms on the given (rank-local or full) batch, with gradients w.r.t. the student inputs."""
    anchors = data["anchors"].clone().requires_grad_()
    local_anchors = data["local_anchors"].clone().requires_grad_()
    student_logits = data["student_logits"].clone().requires_grad_()
    out = {
        "global": multi_positive_loss(anchors, labels, data["keys"], labels, 0.08, exclude_self=True),
        "local": multi_positive_loss(
            local_anchors, labels.repeat_interleave(LOCAL), data["keys"], labels, 0.08, exclude_self=False
        ),
        "ibot": ibot_loss(student_logits, data["teacher_logits"], data["masks"], 0.1, 0.05),
    }
    (out["global"] + out["local"] + out["ibot"]).backward()
    out |= {"grad_anchors": anchors.grad, "grad_local": local_anchors.grad, "grad_student_logits": student_logits.grad}
    out["sinkhorn"] = sinkhorn_knopp(data["teacher_logits"], 0.05)
    return out


def _rank_slice(data: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
    rows = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    before = int(data["masks"][: rank * PER_RANK].sum())
    mine = slice(before, before + int(data["masks"][rows].sum()))
    return {
        "anchors": data["anchors"][rows],
        "local_anchors": data["local_anchors"][rank * PER_RANK * LOCAL : (rank + 1) * PER_RANK * LOCAL],
        "keys": data["keys"][rows],
        "masks": data["masks"][rows],
        "student_logits": data["student_logits"][mine],
        "teacher_logits": data["teacher_logits"][mine],
    }


def _worker(rank: int, store_path: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=WORLD)
    try:
        # Caption ids restart at 0 on every rank: positives must still never cross ranks.
        labels = torch.arange(PER_RANK) // 4
        out = losses(_rank_slice(make_data(), rank), labels)
        for name in ("global", "local", "ibot"):
            out[name] = all_reduce(out[name].detach().clone()) / WORLD  # what DDP's gradient averaging optimises
        torch.save(out, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    data = make_data()
    single = losses(data, torch.arange(WORLD * PER_RANK) // 4)

    for name in ("global", "local", "ibot"):
        for rank in ranks:
            torch.testing.assert_close(rank[name], single[name])
    # DDP averages gradients over ranks, so each rank's gradient / WORLD is the single-process gradient.
    for name in ("grad_anchors", "grad_local", "grad_student_logits", "sinkhorn"):
        scale = 1 if name == "sinkhorn" else WORLD
        parts = [rank[name] / scale for rank in ranks]
        torch.testing.assert_close(torch.cat(parts), single[name])
    assert single["ibot"] > 0 and ranks[0]["sinkhorn"].shape[0] == 0 < ranks[1]["sinkhorn"].shape[0]
