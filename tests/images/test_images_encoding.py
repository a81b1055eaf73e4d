import numpy as np
import pytest
from PIL import Image

from synclr_ray.images.encoding import decode_image, encode_image


@pytest.mark.parametrize(("fmt", "magic"), [("jpeg", b"\xff\xd8\xff"), ("webp", b"RIFF")])
def test_encode_resizes_and_round_trips(fmt: str, magic: bytes) -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    data = encode_image(image, 48, fmt, 95)
    assert data.startswith(magic)
    decoded = decode_image(data)
    assert decoded.size == (48, 48) and decoded.mode == "RGB"


def test_quality_trades_size_for_fidelity() -> None:
    gradient = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
    image = Image.fromarray(gradient)
    low, high = encode_image(image, 64, "jpeg", 20), encode_image(image, 64, "jpeg", 95)
    assert len(low) < len(high)
    error = lambda data: np.abs(np.asarray(decode_image(data), dtype=float) - gradient).mean()  # noqa: E731
    assert error(high) < error(low)
