"""Encoded image bytes: resize to the stored size, then JPEG or WebP."""

import io
from typing import Literal

from PIL import Image

ImageFormat = Literal["jpeg", "webp"]


def encode_image(image: Image.Image, size: int, fmt: ImageFormat, quality: int) -> bytes:
    """Resize ``image`` to ``size`` x ``size`` (Lanczos when shrinking) and encode it."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=fmt.upper(), quality=quality)
    return buffer.getvalue()


def decode_image(data: bytes) -> Image.Image:
    """An RGB image from encoded bytes (as stored in the ``images`` column)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")
