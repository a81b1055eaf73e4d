"""iBOT masks for global crops: a fraction of the images, each with a fixed fraction of its patches masked."""

import math

import torch

from synclr_ray.config.train import MaskConfig

_MIN_BLOCK = 4  # patches, as in BEiT's blockwise masking
_ASPECT = (0.3, 1 / 0.3)
_BLOCK_TRIES = 100


class MaskGenerator:
    """Draws fresh ``[B, num_patches]`` bool masks on every call (masks are never cached or reused).

    Exactly ``round(image_prob * B)`` images are masked, each with exactly ``round(ratio * N)``
    patches: uniformly at random (``random``) or as BEiT-style rectangles (``block``), topped up at random.
    """

    def __init__(self, cfg: MaskConfig, grid: tuple[int, int]) -> None:
        self.cfg = cfg
        self.grid = grid
        self.num_patches = grid[0] * grid[1]
        self.num_masked = max(1, int(cfg.ratio * self.num_patches + 0.5))

    def __call__(
        self, batch_size: int, generator: torch.Generator | None = None, rows: range | None = None
    ) -> torch.Tensor:
        """Masks of a batch of ``batch_size`` images, or of its ``rows`` only.

        Which images are masked and each image's own seed are drawn for the whole batch first,
        so the masks of ``rows`` are those rows of the whole batch's masks: a DDP rank draws only
        its own images of the global batch, and gets what one process would.
        """
        rows = range(batch_size) if rows is None else rows
        masked = torch.zeros(batch_size, dtype=torch.bool)
        masked[torch.randperm(batch_size, generator=generator)[: int(self.cfg.image_prob * batch_size + 0.5)]] = True
        image_seeds = torch.randint(2**62, (batch_size,), generator=generator)
        masks = torch.zeros(len(rows), self.num_patches, dtype=torch.bool)
        for out, index in enumerate(rows):
            if masked[index]:
                image_generator = torch.Generator().manual_seed(int(image_seeds[index]))
                masks[out] = self._block(image_generator) if self.cfg.mode == "block" else self._random(image_generator)
        return masks

    def _random(self, generator: torch.Generator | None, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mask random patches until ``num_masked`` are masked (starting from ``mask`` if given)."""
        mask = torch.zeros(self.num_patches, dtype=torch.bool) if mask is None else mask
        free = (~mask).nonzero().squeeze(1)
        missing = self.num_masked - int(mask.sum())
        mask[free[torch.randperm(len(free), generator=generator)[:missing]]] = True
        return mask

    def _block(self, generator: torch.Generator | None) -> torch.Tensor:
        """Union of random rectangles (area and aspect ratio drawn log-uniformly) never exceeding ``num_masked``."""
        rows, cols = self.grid
        mask = torch.zeros(rows, cols, dtype=torch.bool)

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * torch.rand(1, generator=generator).item()

        for _ in range(_BLOCK_TRIES):
            remaining = self.num_masked - int(mask.sum())
            if remaining < _MIN_BLOCK:
                break
            area = uniform(_MIN_BLOCK, remaining)
            aspect = math.exp(uniform(math.log(_ASPECT[0]), math.log(_ASPECT[1])))
            height, width = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if not (1 <= height <= rows and 1 <= width <= cols):
                continue
            top = int(torch.randint(rows - height + 1, (1,), generator=generator))
            left = int(torch.randint(cols - width + 1, (1,), generator=generator))
            block = torch.zeros_like(mask)
            block[top : top + height, left : left + width] = True
            if 0 < int((block & ~mask).sum()) <= remaining:
                mask |= block
        return self._random(generator, mask.flatten())
