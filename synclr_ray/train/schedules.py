"""Per-step values of the optimisation schedules (recipe §3), as pure functions of the step.

A pure ``at(step)`` keeps resume trivial: nothing to checkpoint, no drift after a restart.
"""

import math
from dataclasses import dataclass

from synclr_ray.config.train import TrainConfig


def cosine(start: float, end: float, progress: float) -> float:
    """Half-cosine from ``start`` (progress 0) to ``end`` (progress 1); progress is clipped to [0, 1]."""
    progress = min(max(progress, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class StepValues:
    """Everything a training step needs from the schedules."""

    lr: float
    weight_decay: float
    momentum: float
    teacher_temp: float


class Schedules:
    """Linear warmup + cosine lr, cosine weight decay and EMA momentum, linear-then-constant teacher temperature."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.steps = cfg.steps
        self.optim = cfg.optim
        self.loss = cfg.loss

    def lr(self, step: int) -> float:
        """0 -> peak over ``warmup_steps``, then cosine down to ``min_lr`` at ``steps``."""
        warmup = self.optim.warmup_steps
        if step < warmup:
            return self.optim.lr * step / warmup
        return cosine(self.optim.lr, self.optim.min_lr, (step - warmup) / max(self.steps - warmup, 1))

    def teacher_temp(self, step: int) -> float:
        """Linear from start to end over ``teacher_temp_warmup_steps``, then constant."""
        warmup = self.loss.teacher_temp_warmup_steps
        progress = min(step / warmup, 1.0) if warmup else 1.0
        return self.loss.teacher_temp_start + (self.loss.teacher_temp_end - self.loss.teacher_temp_start) * progress

    def at(self, step: int) -> StepValues:
        """The schedule values for ``step`` (0-based; ``steps`` is the end point)."""
        progress = step / self.steps
        return StepValues(
            lr=self.lr(step),
            weight_decay=cosine(self.optim.weight_decay_start, self.optim.weight_decay_end, progress),
            momentum=cosine(self.optim.momentum_start, self.optim.momentum_end, progress),
            teacher_temp=self.teacher_temp(step),
        )
