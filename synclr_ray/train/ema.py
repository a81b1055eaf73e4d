"""Exponential moving average of student parameters into a teacher of the same architecture."""

import torch
from torch import nn


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """``theta_t <- m * theta_t + (1 - m) * theta_s`` for every parameter, matched by name.

    m = 1 leaves the teacher bit-for-bit unchanged and m = 0 copies the student exactly
    (``lerp`` evaluates from the nearer end). Buffers (BatchNorm statistics) stay the teacher's own.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    teacher_params = dict(teacher.named_parameters())
    student_params = dict(student.named_parameters())
    if teacher_params.keys() != student_params.keys():
        raise ValueError("ema_update: teacher and student parameters differ in names")
    names = list(teacher_params)
    torch._foreach_lerp_(
        [teacher_params[n] for n in names], [student_params[n].detach() for n in names], 1.0 - momentum
    )
