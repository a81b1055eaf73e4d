import torch

from synclr_ray.train.losses.sinkhorn import sinkhorn_knopp


def test_rows_sum_to_one_and_prototypes_near_uniform():
    logits = torch.randn(64, 32, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    q = sinkhorn_knopp(logits, temperature=0.04, iterations=3)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(64))
    mass = q.sum(dim=0) / 64
    assert (mass - 1 / 32).abs().max() < 0.2 / 32
    many = sinkhorn_knopp(logits, temperature=0.04, iterations=50).sum(dim=0) / 64
    torch.testing.assert_close(many, torch.full((32,), 1 / 32), rtol=1e-3, atol=0)


def test_float16_logits_do_not_overflow():
    logits = torch.rand(16, 8).half() * 2 - 1  # cosine logits: exp(1 / 0.04) = 7e10 overflows float16
    assert not torch.isfinite(torch.exp(logits / 0.04)).all()
    q = sinkhorn_knopp(logits, temperature=0.04)
    assert q.dtype == torch.float32 and torch.isfinite(q).all()
    torch.testing.assert_close(q.sum(dim=1), torch.ones(16))


def test_empty_input():
    assert sinkhorn_knopp(torch.empty(0, 8), 0.04).shape == (0, 8)
