"""Loss terms are computed in float32 with autocast off: bf16 autocast around them changes nothing."""

import pytest
import torch
import torch.nn.functional as F

from synclr_ray.train.losses.contrastive import multi_positive_loss
from synclr_ray.train.losses.ibot import ibot_loss
from synclr_ray.train.losses.sinkhorn import sinkhorn_knopp


def inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(16, 9, generator=g) < 0.5
    masks[8:] = False
    return {
        "anchors": torch.randn(16, 32, generator=g),
        "local_anchors": torch.randn(32, 32, generator=g),
        "keys": torch.randn(16, 32, generator=g),
        "labels": torch.arange(16) // 4,
        "masks": masks,
        "student_logits": torch.randn(int(masks.sum()), 64, generator=g),
        "teacher_logits": F.normalize(torch.randn(int(masks.sum()), 64, generator=g), dim=-1),
    }


def loss_terms(x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    labels = x["labels"]
    return {
        "global": multi_positive_loss(x["anchors"], labels, x["keys"], labels, 0.08, exclude_self=True),
        "local": multi_positive_loss(
            x["local_anchors"], labels.repeat_interleave(2), x["keys"], labels, 0.08, exclude_self=False
        ),
        "ibot": ibot_loss(x["student_logits"], x["teacher_logits"], x["masks"], 0.1, 0.04),
        "sinkhorn": sinkhorn_knopp(x["teacher_logits"], 0.04),
    }


def test_bf16_autocast_leaves_the_loss_terms_at_their_fp32_values():
    x = inputs()
    reference = loss_terms(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        # Without the guard, autocast runs these matmuls in bf16: the contrastive terms move by ~1e-3.
        assert (x["anchors"] @ x["keys"].T).dtype == torch.bfloat16
        under_autocast = loss_terms(x)
    for name, value in reference.items():
        assert under_autocast[name].dtype == torch.float32, name
        torch.testing.assert_close(under_autocast[name], value, rtol=1e-5, atol=1e-5)


def test_bf16_head_outputs_are_lifted_to_fp32_with_gradient():
    x = inputs()
    anchors = x["anchors"].to(torch.bfloat16).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = multi_positive_loss(anchors, x["labels"], x["keys"].to(torch.bfloat16), x["labels"], 0.08, True)
    assert loss.dtype == torch.float32
    expected = multi_positive_loss(anchors.detach().float(), x["labels"], x["keys"].to(torch.bfloat16).float(),
                                   x["labels"], 0.08, True)  # fmt: skip
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert anchors.grad.dtype == torch.bfloat16 and anchors.grad.abs().sum() > 0


def test_bf16_ibot_and_sinkhorn_inputs_are_lifted_to_fp32():
    """The iBOT logits leave the head in bf16: both functions compute on their fp32 values."""
    x = inputs()
    student, teacher = x["student_logits"].to(torch.bfloat16), x["teacher_logits"].to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ibot = ibot_loss(student, teacher, x["masks"], 0.1, 0.04)
        assignments = sinkhorn_knopp(teacher, 0.04)
    assert ibot.dtype == assignments.dtype == torch.float32
    torch.testing.assert_close(ibot, ibot_loss(student.float(), teacher.float(), x["masks"], 0.1, 0.04))
    torch.testing.assert_close(assignments, sinkhorn_knopp(teacher.float(), 0.04))
