import copy

import pytest
import torch
from torch import nn

from synclr_ray.train.ema import ema_update


def pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    teacher = copy.deepcopy(student)
    for param in student.parameters():
        param.data.add_(torch.randn_like(param))
    return teacher, student


def test_momentum_one_keeps_teacher_and_zero_copies_student():
    teacher, student = pair()
    before = copy.deepcopy(teacher.state_dict())
    ema_update(teacher, student, 1.0)
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, before[name])
    ema_update(teacher, student, 0.0)
    for (name, t), s in zip(teacher.named_parameters(), student.parameters(), strict=True):
        assert torch.equal(t, s), name


def test_intermediate_momentum_and_buffers_untouched():
    teacher, student = pair()
    student[1].running_mean.fill_(5.0)
    expected = [0.9 * t + 0.1 * s for t, s in zip(teacher.parameters(), student.parameters(), strict=True)]
    ema_update(teacher, student, 0.9)
    for got, want in zip(teacher.parameters(), expected, strict=True):
        torch.testing.assert_close(got, want)
    assert teacher[1].running_mean.abs().sum() == 0


def test_rejects_mismatched_modules_and_bad_momentum():
    teacher, student = pair()
    with pytest.raises(ValueError, match="momentum"):
        ema_update(teacher, student, 1.5)
    with pytest.raises(ValueError, match="differ"):
        ema_update(nn.Linear(4, 8), student, 0.5)
