import math

import pytest
import torch
import torch.nn.functional as F

from synclr_ray.train.losses.contrastive import multi_positive_loss


def unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_one_positive_equals_infonce():
    anchors, keys = unit(6, 16), unit(6, 16, seed=1)
    labels = torch.arange(6)
    loss = multi_positive_loss(anchors, labels, keys, labels, 0.1, exclude_self=False)
    torch.testing.assert_close(loss, F.cross_entropy(anchors @ keys.T / 0.1, labels))


def test_excluded_self_with_one_other_positive_equals_infonce_without_self():
    # Pairs (0,1), (2,3), ...: after excluding self, each anchor has exactly one positive, its partner.
    anchors, keys = unit(6, 16), unit(6, 16, seed=1)
    labels = torch.arange(6) // 2
    loss = multi_positive_loss(anchors, labels, keys, labels, 0.1, exclude_self=True)
    logits = (anchors @ keys.T / 0.1).masked_fill(torch.eye(6, dtype=torch.bool), float("-inf"))
    partner = torch.arange(6) ^ 1
    torch.testing.assert_close(loss, F.cross_entropy(logits, partner))


@pytest.mark.parametrize(("exclude_self", "candidates"), [(True, 7), (False, 8)])
def test_identical_embeddings_give_log_candidates(exclude_self, candidates):
    same = F.normalize(torch.ones(8, 4), dim=-1)
    labels = torch.arange(8) // 4
    loss = multi_positive_loss(same, labels, same, labels, 0.08, exclude_self=exclude_self)
    assert loss.item() == pytest.approx(math.log(candidates), rel=1e-5)


def test_permutation_invariant_and_finite_gradient():
    anchors = unit(8, 16).requires_grad_()
    keys = unit(8, 16, seed=1)
    labels = torch.arange(8) // 4
    loss = multi_positive_loss(anchors, labels, keys, labels, 0.08, exclude_self=True)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    permuted = multi_positive_loss(anchors[perm], labels[perm], keys[perm], labels[perm], 0.08, exclude_self=True)
    torch.testing.assert_close(loss, permuted)
    loss.backward()
    assert torch.isfinite(anchors.grad).all() and anchors.grad.abs().sum() > 0


def test_multi_positive_targets_uniform_over_same_caption():
    # Keys of caption c all point one way; anchors aligned with their caption beat misaligned ones.
    keys = F.normalize(torch.eye(4).repeat_interleave(2, dim=0), dim=-1)
    labels = torch.arange(8) // 2
    aligned = multi_positive_loss(keys, labels, keys, labels, 0.08, exclude_self=True)
    shifted = multi_positive_loss(keys.roll(2, dims=0), labels, keys, labels, 0.08, exclude_self=True)
    assert aligned.item() < 0.01 < shifted.item()


def test_anchors_without_positive_are_skipped():
    anchors, keys = unit(4, 8), unit(4, 8, seed=1)
    labels = torch.tensor([0, 0, 1, 2])  # anchors 2 and 3 have no positive once self is excluded
    loss = multi_positive_loss(anchors, labels, keys, labels, 0.1, exclude_self=True)
    logits = (anchors @ keys.T / 0.1).masked_fill(torch.eye(4, dtype=torch.bool), float("-inf"))
    torch.testing.assert_close(loss, F.cross_entropy(logits[:2], torch.tensor([1, 0])))
    none = multi_positive_loss(anchors, torch.arange(4), keys, torch.arange(4), 0.1, exclude_self=True)
    assert none.item() == 0.0
