import math

import torch
import torch.nn.functional as F

from synclr_ray.train.losses.ibot import ibot_loss
from synclr_ray.train.losses.sinkhorn import sinkhorn_knopp


def test_weighting_per_image_then_over_all_images():
    torch.manual_seed(0)
    masks = torch.zeros(3, 6, dtype=torch.bool)
    masks[0, :2] = True
    masks[1, :4] = True  # image 2 unmasked: counts as 0 in the mean over 3 images
    student, teacher = torch.randn(6, 10), torch.randn(6, 10).clamp(-1, 1)
    loss = ibot_loss(student, teacher, masks, student_temp=0.1, teacher_temp=0.07, sinkhorn_iterations=3)
    per_patch = -(sinkhorn_knopp(teacher, 0.07) * F.log_softmax(student / 0.1, dim=-1)).sum(-1)
    expected = (per_patch[:2].mean() + per_patch[2:].mean()) / 3
    torch.testing.assert_close(loss, expected)


def test_uniform_student_gives_log_k_and_gradient_flows():
    masks = torch.ones(2, 4, dtype=torch.bool)
    student = torch.zeros(8, 16, requires_grad=True)
    loss = ibot_loss(student, torch.randn(8, 16), masks, 0.1, 0.04)
    assert abs(loss.item() - math.log(16)) < 1e-5
    loss.backward()
    assert student.grad.abs().sum() > 0


def test_nothing_masked_is_zero_not_nan():
    masks = torch.zeros(4, 9, dtype=torch.bool)
    loss = ibot_loss(torch.empty(0, 16, requires_grad=True), torch.empty(0, 16), masks, 0.1, 0.04)
    assert loss.item() == 0.0
