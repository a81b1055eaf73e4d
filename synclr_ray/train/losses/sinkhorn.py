"""Distributed Sinkhorn-Knopp: balanced soft assignments of teacher tokens to prototypes (SwAV, iBOT, DINOv2)."""

import torch
import torch.distributed as dist

from synclr_ray.train.losses.collectives import all_reduce
from synclr_ray.train.losses.fp32 import fp32

_TINY = torch.finfo(torch.float32).tiny


@torch.no_grad()
@fp32
def sinkhorn_knopp(logits: torch.Tensor, temperature: float, iterations: int = 3) -> torch.Tensor:
    """Target distributions ``[M, K]`` (each row sums to 1) for teacher ``logits`` ``[M, K]``.

    Rows (samples, gathered over all ranks) and columns (prototypes) are normalised in turn so
    every prototype receives about the same mass. Always float32 with autocast off: ``exp(logit / 0.04)``
    overflows float16. Every rank must call this, even with no rows of its own (the sums are all-reduced).
    """
    num_prototypes = logits.shape[-1]
    num_samples = all_reduce(torch.tensor(float(logits.shape[0]), device=logits.device))
    if num_samples.item() == 0:
        return logits.clone()
    # A global constant shift cancels exactly and keeps exp() finite for any logit range.
    peak = logits.max() if logits.numel() else torch.tensor(float("-inf"), device=logits.device)
    all_reduce(peak, op=dist.ReduceOp.MAX)
    q = torch.exp((logits - peak) / temperature)
    q /= all_reduce(q.sum()).clamp(min=_TINY)
    for _ in range(iterations):
        q /= all_reduce(q.sum(dim=0, keepdim=True)).clamp(min=_TINY) * num_prototypes
        q /= q.sum(dim=1, keepdim=True).clamp(min=_TINY) * num_samples
    return q * num_samples
