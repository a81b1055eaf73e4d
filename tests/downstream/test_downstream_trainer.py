"""The downstream trainer's schedule bounds: a run stops at a step of its configured schedule."""

import pytest

from synclr_ray.config import load_config
from synclr_ray.downstream.trainer import stop_step
from synclr_ray.finetune.task import FinetuneTask


def test_a_run_stops_within_its_schedule():
    task = FinetuneTask(load_config("tiny", ["finetune.steps=50", "finetune.warmup_steps=5"]), "x", {}, 2)
    assert stop_step(task, None) == 50
    assert stop_step(task, 20) == 20  # a later run with more steps continues the same schedule
    for steps in (0, 51):
        with pytest.raises(ValueError, match=f"steps \\({steps}\\) must be between 1 and the schedule's 50 steps"):
            stop_step(task, steps)
