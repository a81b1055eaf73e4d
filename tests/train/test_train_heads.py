import torch

from synclr_ray.config.train import HeadsConfig
from synclr_ray.train.heads import IBOTHead, predictor, projector

CFG = HeadsConfig(proj_hidden=32, proj_out=16, pred_hidden=32, ibot_hidden=32, ibot_bottleneck=8, prototypes=12)


def test_contrastive_heads_are_per_sample_so_ranks_need_no_sync():
    """A sample's projection must not depend on the other samples of its (per-rank) batch, as BatchNorm's would."""
    torch.manual_seed(0)
    heads = torch.nn.Sequential(projector(24, CFG), predictor(CFG)).train()
    x = torch.randn(8, 24)
    whole = heads(x)
    halves = torch.cat([heads(x[:4]), heads(x[4:] * 1.0)])
    torch.testing.assert_close(whole, halves)
    assert whole.shape == (8, 16)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in heads.modules())


def test_heads_end_in_an_affine_free_layernorm_as_in_the_synclr_code():
    torch.manual_seed(0)
    for head in (projector(24, CFG), predictor(CFG)):
        out = head(torch.randn(5, head[0].in_features) * 7 + 3)
        torch.testing.assert_close(out.mean(dim=-1), torch.zeros(5), atol=1e-5, rtol=0)
        torch.testing.assert_close(out.var(dim=-1, unbiased=False), torch.ones(5), atol=0.02, rtol=0)  # LayerNorm eps
        assert sum(isinstance(m, torch.nn.GELU) for m in head) == len(head) // 3


def test_ibot_head_logits_are_cosines():
    logits = IBOTHead(24, CFG)(torch.randn(6, 24))
    assert logits.shape == (6, 12) and logits.abs().max() <= 1.0 + 1e-5
