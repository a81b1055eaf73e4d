"""iBOT masked-patch prediction: the student predicts the teacher's prototype assignment of masked patches."""

import torch
import torch.nn.functional as F

from synclr_ray.train.losses.collectives import global_mean
from synclr_ray.train.losses.sinkhorn import sinkhorn_knopp


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
    then images are averaged over every global crop of every rank (unmasked crops count as 0, as in iBOT).
    """
    targets = sinkhorn_knopp(teacher_logits, teacher_temp, sinkhorn_iterations)
    log_probs = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    per_patch = -(targets * log_probs).sum(dim=-1)
    per_image_count = masks.sum(dim=1, keepdim=True).clamp(min=1).expand_as(masks)[masks]
    return global_mean((per_patch / per_image_count).sum(), masks.shape[0])
