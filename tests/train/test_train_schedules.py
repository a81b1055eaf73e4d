from itertools import pairwise

import pytest

from synclr_ray.train.schedules import Schedules


def test_endpoints_and_shapes(train_config):
    cfg = train_config(
        "steps=1000",
        "optim.warmup_steps=100",
        "optim.lr=0.002",
        "optim.min_lr=1e-6",
        "loss.teacher_temp_warmup_steps=400",
        "optim.momentum_start=0.994",
    )
    sched = Schedules(cfg)
    start, peak, end = sched.at(0), sched.at(100), sched.at(1000)
    assert start.lr == 0.0 and peak.lr == pytest.approx(0.002) and end.lr == pytest.approx(1e-6)
    assert sched.at(50).lr == pytest.approx(0.001)
    assert (start.weight_decay, end.weight_decay) == (pytest.approx(0.04), pytest.approx(0.2))
    assert (start.momentum, end.momentum) == (pytest.approx(0.994), pytest.approx(1.0))
    assert (start.teacher_temp, end.teacher_temp) == (pytest.approx(0.04), pytest.approx(0.07))
    assert sched.at(200).teacher_temp == pytest.approx(0.055)
    assert sched.at(400).teacher_temp == sched.at(700).teacher_temp == pytest.approx(0.07)
    lrs = [sched.at(step).lr for step in range(100, 1001, 50)]
    assert all(a >= b for a, b in pairwise(lrs))
    momenta = [sched.at(step).momentum for step in range(0, 1001, 50)]
    assert all(a <= b for a, b in pairwise(momenta))
    assert sched.at(500).weight_decay == pytest.approx(0.12)


def test_no_warmup(train_config):
    sched = Schedules(train_config("optim.warmup_steps=0", "loss.teacher_temp_warmup_steps=0", "optim.lr=0.001"))
    assert sched.at(0).lr == pytest.approx(0.001) and sched.at(0).teacher_temp == pytest.approx(0.07)
