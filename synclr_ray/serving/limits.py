"""Per-image and per-request size limits, checked on the sizes image headers declare, before decoding."""

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import HTTPException

from synclr_ray.config.serve import ServeConfig


@dataclass(frozen=True)
class ImageLimits:
    """What one request's images may declare; decoding is bounded by ``max_pixels`` per image at a time."""

    max_side: int
    max_aspect_ratio: float
    max_pixels: int
    max_request_pixels: int

    @classmethod
    def from_config(cls, cfg: ServeConfig) -> "ImageLimits":
        """The limits of ``cfg`` (``serve.max_image_side``, ``max_aspect_ratio``, ``max_image_pixels``, ...)."""
        return cls(cfg.max_image_side, cfg.max_aspect_ratio, cfg.max_image_pixels, cfg.max_request_pixels)

    def check(self, sizes: Sequence[tuple[int, int]], name: str = "images") -> None:
        """Raise a 4xx naming the first image (``images[i]``, or ``name[i]``) and the limit its (width, height) breaks."""
        total = 0
        for index, (width, height) in enumerate(sizes):
            field, shape = f"{name}[{index}]", f"{width}x{height}"
            if min(width, height) < 1:
                raise HTTPException(400, f"{field}: {shape} has no pixels")
            if max(width, height) > self.max_side:
                raise HTTPException(
                    413,
                    f"{field}: {shape} is above the limit of {self.max_side} pixels per side (serve.max_image_side)",
                )
            ratio = max(width, height) / min(width, height)
            if ratio > self.max_aspect_ratio:
                raise HTTPException(
                    422,
                    f"{field}: {shape} has an aspect ratio of {ratio:.3g}:1, above the limit of "
                    f"{self.max_aspect_ratio:g}:1 (serve.max_aspect_ratio)",
                )
            if width * height > self.max_pixels:
                raise HTTPException(
                    413,
                    f"{field}: {shape} is {width * height} pixels, above the limit of {self.max_pixels} "
                    "per image (serve.max_image_pixels)",
                )
            total += width * height
            if total > self.max_request_pixels:
                raise HTTPException(
                    413,
                    f"{field}: {name}[0..{index}] add up to {total} pixels, above the budget of "
                    f"{self.max_request_pixels} per request (serve.max_request_pixels)",
                )
