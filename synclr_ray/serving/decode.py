"""Untrusted image bytes to RGB PIL images in two steps: the header (cheap, for the limits), then the pixels."""

import base64
import binascii
import io
import re

import numpy as np
from fastapi import HTTPException
from PIL import Image, UnidentifiedImageError

FORMATS = ("JPEG", "PNG", "WEBP")
_DATA_URI = re.compile(r"^data:image/[a-z+.-]+;base64,", re.IGNORECASE)
_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L"}
_DIRECT_MODES = {"1", "L", "RGB", "CMYK", "YCbCr"}
_ALPHA_MODES = {"LA", "PA", "RGBA", "RGBa", "La"}


def decode_base64(text: str, field: str) -> bytes:
    """Strict base64 (a ``data:image/...;base64,`` prefix is allowed); 400 naming ``field`` otherwise."""
    try:
        return base64.b64decode(_DATA_URI.sub("", text, count=1), validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, f"{field}: not valid base64") from None


def open_image(data: bytes, field: str) -> Image.Image:
    """Read only the header of a JPEG/PNG/WebP (its ``size`` is then known, no pixel is decoded); 400 otherwise."""
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise HTTPException(400, f"{field}: not a JPEG, PNG or WebP image") from None
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise HTTPException(413, f"{field}: the header claims more than {limit} pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise HTTPException(400, f"{field}: truncated or corrupt image header ({exc})") from None


def decode_rgb(img: Image.Image, field: str) -> Image.Image:
    """Decode the pixels of an opened image into RGB; 400 for truncated or corrupt data.

    Check the header's size against the limits first: this allocates width x height pixels.
    """
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise HTTPException(400, f"{field}: truncated or corrupt image ({exc})") from None
    return to_rgb(img, field)


def to_rgb(img: Image.Image, field: str) -> Image.Image:
    """RGB view of any JPEG/PNG/WebP mode: alpha composited on white, 16-bit scaled, CMYK converted."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in _HIGH_DEPTH_MODES:
        img = Image.fromarray((np.asarray(img, dtype=np.float32) / 257).clip(0, 255).astype(np.uint8), "L")
    elif "transparency" in img.info and img.mode in ("L", "RGB"):
        img = img.convert("RGBA")
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in _DIRECT_MODES:
        return img.convert("RGB")
    raise HTTPException(415, f"{field}: unsupported image mode {img.mode}")
