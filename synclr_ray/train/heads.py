"""Heads on top of the backbone: the contrastive projector and predictor, and the DINO-style iBOT head.

The contrastive MLPs follow the SynCLR code's default (``--contrast_mlp_norm ln``): LayerNorm and
GELU, whose statistics are per sample, so DDP ranks need no synchronisation (the MoCo v3
BatchNorm variant needs SyncBatchNorm, which torch only runs on accelerators).
"""

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from synclr_ray.config.train import HeadsConfig


def mlp(num_layers: int, in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """(Linear, LayerNorm, GELU) x (num_layers - 1), then a bias-free Linear and an affine-free LayerNorm."""
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(num_layers - 1):
        layers += [nn.Linear(dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU()]
        dim = hidden_dim
    layers += [nn.Linear(dim, out_dim, bias=False), nn.LayerNorm(out_dim, elementwise_affine=False)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def projector(in_dim: int, cfg: HeadsConfig) -> nn.Sequential:
    """3-layer projector (student and teacher)."""
    return mlp(3, in_dim, cfg.proj_hidden, cfg.proj_out)


def predictor(cfg: HeadsConfig) -> nn.Sequential:
    """2-layer predictor (student only)."""
    return mlp(2, cfg.proj_out, cfg.pred_hidden, cfg.proj_out)


class IBOTHead(nn.Module):
    """3-layer GELU MLP to an l2-normalised bottleneck, then a weight-normalised linear layer to K prototypes.

    The weight norm's gain is fixed at 1, so every logit is a cosine in [-1, 1].
    """

    def __init__(self, in_dim: int, cfg: HeadsConfig) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, cfg.ibot_hidden),
            nn.GELU(),
            nn.Linear(cfg.ibot_hidden, cfg.ibot_hidden),
            nn.GELU(),
            nn.Linear(cfg.ibot_hidden, cfg.ibot_bottleneck),
        )
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        self.last_layer = weight_norm(nn.Linear(cfg.ibot_bottleneck, cfg.prototypes, bias=False))
        gain = self.last_layer.parametrizations.weight.original0
        gain.data.fill_(1.0)
        gain.requires_grad = False

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Prototype logits ``[..., K]`` of tokens ``[..., in_dim]``."""
        x = nn.functional.normalize(self.mlp(tokens), dim=-1, eps=1e-6)
        return self.last_layer(x)
