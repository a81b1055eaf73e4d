"""Image decoding: every JPEG/PNG/WebP mode becomes the right RGB; limits are checked before decoding."""

import base64
import io

import numpy as np
import pytest
from fastapi import HTTPException
from PIL import Image

from synclr_ray.serving.decode import decode_base64, decode_image


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_alpha_is_composited_on_white_and_sixteen_bit_is_scaled():
    half = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    assert decode_image(encode(half), 100, "x").getpixel((0, 0)) == (127, 127, 127)
    palette = Image.new("P", (4, 4), 0)
    palette.info["transparency"] = 0
    assert decode_image(encode(palette), 100, "x").getpixel((0, 0)) == (255, 255, 255)
    deep = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert decode_image(encode(deep), 100, "x").getpixel((0, 0)) == (255, 255, 255)
    webp = decode_image(encode(Image.new("RGBA", (4, 4), (10, 20, 30, 255)), "WEBP"), 100, "x")
    assert webp.mode == "RGB"


def test_cmyk_and_grayscale_convert():
    cmyk = decode_image(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), 100, "x")
    r, g, b = cmyk.getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60  # red survives the round trip
    assert decode_image(encode(Image.new("L", (8, 8), 77)), 100, "x").getpixel((1, 1)) == (77, 77, 77)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (encode(Image.new("RGB", (20, 20))), 413, "20x20"),
        (b"GIF89a" + b"\0" * 40, 400, "not a JPEG, PNG or WebP"),
        (encode(Image.new("RGB", (8, 8)), "BMP"), 400, "not a JPEG, PNG or WebP"),
        (encode(Image.effect_noise((9, 9), 50).convert("RGB"), "JPEG")[:200], 400, "truncated"),
    ],
)
def test_refusals_name_the_field(data, status, message):
    with pytest.raises(HTTPException) as err:
        decode_image(data, 100, "images[3]")
    assert err.value.status_code == status
    assert err.value.detail.startswith("images[3]: ") and message in err.value.detail


def test_base64_is_strict_and_accepts_data_uris():
    assert decode_base64("data:image/png;base64," + base64.b64encode(b"abc").decode(), "f") == b"abc"
    with pytest.raises(HTTPException, match="not valid base64"):
        decode_base64("ab$c", "f")
