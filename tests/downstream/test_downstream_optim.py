import numpy as np
import torch

from synclr_ray.downstream.optim import layer_decay_groups


def test_layer_decay_leaves_a_frozen_encoder_out_and_heads_at_full_lr():
    encoder = torch.nn.Linear(4, 4).requires_grad_(False)
    encoder.no_weight_decay = lambda: set()
    model = torch.nn.ModuleDict({"encoder": encoder, "head": torch.nn.Linear(4, 2)})
    groups = layer_decay_groups(model, encoder, weight_decay=0.05, layer_decay=0.65)
    assert [(g["lr_scale"], g["weight_decay"], len(g["params"])) for g in groups] == [(1.0, 0.05, 1), (1.0, 0.0, 1)]
    assert not np.isin([id(p) for g in groups for p in g["params"]], [id(p) for p in encoder.parameters()]).any()
