"""Image decoding: every JPEG/PNG/WebP mode becomes the right RGB; the header is read before any pixel."""

import base64
import io

import numpy as np
import pytest
from fastapi import HTTPException
from PIL import Image

from synclr_ray.serving.decode import decode_base64, decode_rgb, open_image


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def decode(data: bytes, field: str = "x") -> Image.Image:
    return decode_rgb(open_image(data, field), field)


def test_alpha_is_composited_on_white_and_sixteen_bit_is_scaled():
    half = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    assert decode(encode(half)).getpixel((0, 0)) == (127, 127, 127)
    palette = Image.new("P", (4, 4), 0)
    palette.info["transparency"] = 0
    assert decode(encode(palette)).getpixel((0, 0)) == (255, 255, 255)
    deep = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert decode(encode(deep)).getpixel((0, 0)) == (255, 255, 255)
    webp = decode(encode(Image.new("RGBA", (4, 4), (10, 20, 30, 255)), "WEBP"))
    assert webp.mode == "RGB"


def test_cmyk_and_grayscale_convert():
    cmyk = decode(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    r, g, b = cmyk.getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60  # red survives the round trip
    assert decode(encode(Image.new("L", (8, 8), 77))).getpixel((1, 1)) == (77, 77, 77)


def test_open_reads_the_size_without_decoding():
    data = encode(Image.effect_noise((64, 48), 50).convert("RGB"))
    img = open_image(data[: len(data) // 2], "images[0]")  # the header is all it needs
    assert img.size == (64, 48)
    with pytest.raises(HTTPException) as err:
        decode_rgb(img, "images[0]")  # the pixels are missing
    assert err.value.status_code == 400 and "images[0]: truncated" in err.value.detail


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\0" * 40, "not a JPEG, PNG or WebP"),
        (encode(Image.new("RGB", (8, 8)), "BMP"), "not a JPEG, PNG or WebP"),
        (encode(Image.new("RGB", (8, 8)))[:20], "truncated or corrupt image header"),
    ],
)
def test_refusals_name_the_field(data, message):
    with pytest.raises(HTTPException) as err:
        open_image(data, "images[3]")
    assert err.value.status_code == 400
    assert err.value.detail.startswith("images[3]: ") and message in err.value.detail


def test_base64_is_strict_and_accepts_data_uris():
    assert decode_base64("data:image/png;base64," + base64.b64encode(b"abc").decode(), "f") == b"abc"
    with pytest.raises(HTTPException, match="not valid base64"):
        decode_base64("ab$c", "f")
