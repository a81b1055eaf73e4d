"""Where a model runs and in which precision: the one place that decides it for every stage.

A stage names the precision it wants (a config field such as ``train.precision`` or
``serve.precision``, or its own choice: fp16 for Stable Diffusion on GPUs) and, where CPUs
should run something else, what they run instead; `resolve` turns that into a device, a dtype
and a matching ``torch.autocast``. The device is CUDA when the stage asked for GPUs (or did not
say) and one is visible (a Ray actor without GPUs sees none), else the CPU. ``auto`` picks the
fastest precision of the device: fp16 on CUDA, bf16 on CPUs with native bf16 matmuls
(AVX512-BF16 or AMX), else fp32.
"""

from dataclasses import dataclass
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "fp16"]
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Compute:
    """A resolved device and precision."""

    device: torch.device
    precision: Precision

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype of ``precision`` (weights of half-precision generators, autocast's compute dtype)."""
        return DTYPES[self.precision]

    def autocast(self) -> torch.autocast:
        """``torch.autocast`` in this precision on this device (disabled for fp32)."""
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.precision != "fp32")


def fastest_precision(device: str | torch.device) -> Precision:
    """The precision ``device`` computes fastest: fp16 on CUDA, bf16 on CPUs with native bf16 matmuls, else fp32."""
    if torch.device(device).type == "cuda":
        return "fp16"
    return "bf16" if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported() else "fp32"


def resolve(
    precision: Precision | Literal["auto"] = "fp32",
    *,
    device: str | torch.device | None = None,
    gpus: float | None = None,
    cpu_precision: Precision | None = None,
) -> Compute:
    """The device and precision to run in.

    ``device`` is used as given (e.g. Ray Train's ``get_device()``); otherwise CUDA when ``gpus``
    is None or positive and a GPU is visible, else the CPU. ``cpu_precision``, when set, replaces
    ``precision`` on CPUs (training and generation run fp32 there). fp16 on a CPU is refused.
    """
    if device is None:
        use_gpu = (gpus is None or gpus > 0) and torch.cuda.is_available()
        device = "cuda" if use_gpu else "cpu"
    device = torch.device(device)
    if device.type == "cpu" and cpu_precision is not None:
        precision = cpu_precision
    if precision == "auto":
        precision = fastest_precision(device)
    if precision not in DTYPES:
        raise ValueError(f"precision {precision!r}: expected auto, {', '.join(DTYPES)}")
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision fp16 needs a GPU; on CPUs use bf16, fp32 or auto")
    return Compute(device, precision)
