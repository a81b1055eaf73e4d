import math

import torch
import torch.nn.functional as F

from synclr_ray.train.losses.ibot import ibot_loss
from synclr_ray.train.losses.sinkhorn import sinkhorn_knopp


def synclr_forward_masked(student, targets, masks, student_temp):
    """SynCLR's ``iBOTPatchLoss.forward_masked`` (train_pytorch/models/mask_losses.py), written out for one process.

    ``masks_weight`` is 1 / (masked patches of the image) per masked patch, and the normaliser
    ``n_masked_samples`` is the number of masked global crops; their ``/ n_global_crops`` is 1 here.
    """
    loss = torch.sum(targets * F.log_softmax(student / student_temp, dim=-1), dim=-1)
    masks_weight = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    n_masked_samples = int((masks.sum(-1) > 0).sum())
    return -(loss * masks_weight).sum() / n_masked_samples


def test_normaliser_is_the_number_of_masked_crops_as_in_synclr():
    masks = torch.zeros(4, 6, dtype=torch.bool)
    masks[0, :2] = True
    masks[1, 1:5] = True  # images 2 and 3 are not masked: they do not count in the mean
    student = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0], [0.0, 2.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0],
                            [3.0, 1.0, 2.0]])  # fmt: skip
    teacher = torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, -0.5], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0],
                            [-1.0, 1.0, 1.0]])  # fmt: skip
    loss = ibot_loss(student, teacher, masks, student_temp=0.1, teacher_temp=0.07, sinkhorn_iterations=3)
    targets = sinkhorn_knopp(teacher, 0.07, 3)
    torch.testing.assert_close(loss, synclr_forward_masked(student, targets, masks, 0.1))
    per_patch = -(targets * F.log_softmax(student / 0.1, dim=-1)).sum(-1)
    # Each masked image's mean over its patches, averaged over the 2 masked images (not over all 4).
    torch.testing.assert_close(loss, (per_patch[:2].mean() + per_patch[2:].mean()) / 2)


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
