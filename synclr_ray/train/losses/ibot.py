"""iBOT masked-patch prediction: the student predicts the teacher's prototype assignment of masked patches."""

import torch
import torch.nn.functional as F

from synclr_ray.train.losses.collectives import global_mean
from synclr_ray.train.losses.fp32 import fp32
from synclr_ray.train.losses.sinkhorn import sinkhorn_knopp


@fp32
def ibot_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    masks: torch.Tensor,
    student_temp: float,
    teacher_temp: float,
    sinkhorn_iterations: int = 3,
) -> torch.Tensor:
    """Cross-entropy between Sinkhorn-Knopp teacher targets and the student softmax on masked patches.

    ``student_logits`` and ``teacher_logits`` are ``[M, K]``, one row per True entry of ``masks``
    ``[B, N]`` in row-major order (``tokens[masks]``). Each image's masked patches are averaged,
    then images are averaged over the masked global crops of every rank: SynCLR's
    ``iBOTPatchLoss.forward_masked`` normaliser (``n_masked_samples``), not DINOv2's (all global
    crops), which would halve the term at mask probability 0.5. Computed in float32 with autocast off.
    """
    targets = sinkhorn_knopp(teacher_logits, teacher_temp, sinkhorn_iterations)
    log_probs = F.log_softmax(student_logits / student_temp, dim=-1)
    per_patch = -(targets * log_probs).sum(dim=-1)
    per_image_count = masks.sum(dim=1, keepdim=True).clamp(min=1).expand_as(masks)[masks]
    return global_mean((per_patch / per_image_count).sum(), masks.any(dim=1).sum())
