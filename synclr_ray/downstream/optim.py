"""AdamW parameter groups with timm's layer-wise lr decay over the encoder, the heads at full lr."""

import torch
from timm.optim import param_groups_layer_decay


def layer_decay_groups(
    model: torch.nn.Module, encoder: torch.nn.Module, weight_decay: float, layer_decay: float
) -> list[dict]:
    """timm's layer-decay groups for ``encoder`` (a timm ViT inside ``model``, or ``model`` itself); every other
    trainable parameter of ``model`` at lr scale 1, without weight decay on biases and norms."""
    groups = []
    if any(p.requires_grad for p in encoder.parameters()):
        groups = param_groups_layer_decay(encoder, weight_decay, encoder.no_weight_decay(), layer_decay=layer_decay)
    in_encoder = {id(p) for p in encoder.parameters()}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in in_encoder]
    if rest and not list(getattr(encoder, "norm", torch.nn.Identity()).parameters()):
        # timm ranks a ViT's final norm one layer above its last block; a features-only backbone has
        # none, so its last block would get the full lr. The heads are that top layer (BEiT's recipe).
        for group in groups:
            group["lr_scale"] *= layer_decay
    for params, decay in (([p for p in rest if p.ndim > 1], weight_decay), ([p for p in rest if p.ndim <= 1], 0.0)):
        if params:
            groups.append({"params": params, "weight_decay": decay, "lr_scale": 1.0})
    return groups
