"""Multi-positive contrastive loss (StableRep): every crop of the same caption is a positive."""

import torch
import torch.nn.functional as F

from synclr_ray.train.losses.collectives import all_gather, global_mean, rank_and_world
from synclr_ray.train.losses.fp32 import fp32

# Finite, not -inf: the excluded logit is later multiplied by a zero target, and 0 * -inf = NaN.
_EXCLUDED = -1e9


@fp32
def multi_positive_loss(
    anchors: torch.Tensor,
    anchor_labels: torch.Tensor,
    keys: torch.Tensor,
    key_labels: torch.Tensor,
    temperature: float,
    exclude_self: bool,
) -> torch.Tensor:
    """Cross-entropy between the uniform distribution over positives and softmax(anchor . key / temperature).

    ``anchors`` ``[M, D]`` (with gradient) are scored against the ``keys`` ``[K, D]`` of all ranks,
    gathered without gradient; both are l2-normalised here, in float32 with autocast off. Positives
    share a label on the same rank (a caption never spans ranks, so labels need only be unique per
    rank). With ``exclude_self``, anchor i and key i are the same crop, and that key is left out of
    numerator and denominator.
    Anchors without any positive are skipped. Returns this rank's share of the global mean (see ``global_mean``).
    """
    rank, world = rank_and_world()
    all_keys = all_gather(F.normalize(keys, dim=-1))
    all_labels = all_gather(key_labels)
    key_rank = torch.arange(world, device=keys.device).repeat_interleave(keys.shape[0])
    logits = F.normalize(anchors, dim=-1) @ all_keys.T / temperature
    positives = (anchor_labels[:, None] == all_labels[None, :]) & (key_rank == rank)[None, :]
    if exclude_self:
        if anchors.shape[0] != keys.shape[0]:
            raise ValueError(
                f"exclude_self needs one key per anchor, got {anchors.shape[0]} anchors and {keys.shape[0]} keys"
            )
        rows = torch.arange(anchors.shape[0], device=anchors.device)
        own = torch.zeros_like(positives)
        own[rows, rank * keys.shape[0] + rows] = True
        logits = logits.masked_fill(own, _EXCLUDED)
        positives &= ~own
    num_positives = positives.sum(dim=1)
    targets = positives.float() / num_positives.clamp(min=1)[:, None]
    per_anchor = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)
    valid = num_positives > 0
    return global_mean(per_anchor[valid].sum(), valid.sum())
