"""Collectives that degrade to identities in a single process (no process group needed)."""

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a torch.distributed process group is up."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size), (0, 1) without a process group."""
    return (dist.get_rank(), dist.get_world_size()) if is_distributed() else (0, 1)


def all_reduce(tensor: torch.Tensor, op: dist.ReduceOp = dist.ReduceOp.SUM) -> torch.Tensor:
    """In-place all-reduce across ranks; a no-op in one process. Returns ``tensor``."""
    if is_distributed():
        dist.all_reduce(tensor, op=op)
    return tensor


@torch.no_grad()
def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenation over ranks (rank order) along dim 0, without gradient; every rank must pass the same shape."""
    if not is_distributed():
        return tensor.detach()
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.detach().contiguous())
    return torch.cat(parts)


def global_mean(local_sum: torch.Tensor, local_count: int | torch.Tensor) -> torch.Tensor:
    """This rank's share of the mean over all ranks: ``local_sum * world / global_count``.

    Averaging this value (or its gradients, as DDP does) over ranks gives exactly the mean over
    the concatenated batch, even when ranks hold different counts. Zero when nothing counts anywhere.
    """
    _, world = rank_and_world()
    count = torch.as_tensor(local_count, dtype=torch.float32, device=local_sum.device).clone()
    all_reduce(count)
    return local_sum * world / count.clamp(min=1.0)
