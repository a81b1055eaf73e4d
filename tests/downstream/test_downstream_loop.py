"""Rank 0's progress log of a downstream run: one JSON line per logged step, steps after a resume not doubled."""

import json

from synclr_ray import storage
from synclr_ray.downstream.loop import METRICS_FILE, StepLog


def _record(step: int) -> dict:
    return {"step": step, "loss": 1.0 / step, "lr": 1e-4, "images_per_s": 10.0}


def test_a_resumed_run_drops_the_lines_after_its_checkpoint(tmp_path, s3_bucket):
    for run_dir in (str(tmp_path), f"{s3_bucket}/run"):
        first = StepLog(run_dir, total_steps=6, resumed_step=0)
        for step in (1, 2, 3, 4):
            first.write(_record(step))
        # The run died after step 4 with its last checkpoint at step 2: steps 3 and 4 are repeated.
        resumed = StepLog(run_dir, total_steps=6, resumed_step=2)
        for step in (3, 4, 5):
            resumed.write(_record(step))
        lines = storage.read_text(storage.join(run_dir, METRICS_FILE)).splitlines()
        assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4, 5]
