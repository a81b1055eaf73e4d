"""Loss terms in float32 with autocast off, whatever precision the backbone and heads ran in.

Under ``torch.autocast`` a loss's matmuls and exponentials would otherwise be recast to bf16:
the contrastive logits move by ~1e-4 relative and Sinkhorn-Knopp's ``exp(logit / 0.04)``
overflows float16. Gradients still flow back into the lower-precision head outputs.
"""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch

Loss = TypeVar("Loss", bound=Callable[..., Any])


def _to_fp32(value: Any) -> Any:
    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value


def fp32(loss: Loss) -> Loss:
    """Decorator: run ``loss`` with autocast off on its tensors' device and its floating tensors in float32."""

    @functools.wraps(loss)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tensor = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        device = tensor.device.type if tensor is not None else "cpu"
        with torch.autocast(device, enabled=False):
            return loss(*map(_to_fp32, args), **{name: _to_fp32(value) for name, value in kwargs.items()})

    return wrapper  # type: ignore[return-value]
