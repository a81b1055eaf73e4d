import io

import numpy as np
import pytest
from PIL import Image

from synclr_ray import storage
from synclr_ray.config.eval import EvalConfig
from synclr_ray.eval.pca import COLUMNS, HEADER_PX, foreground_and_colours, write_pca_figure


@pytest.mark.parametrize("swap", [False, True])
def test_first_component_separates_object_from_border(swap):
    rng = np.random.default_rng(0)
    obj, background = rng.normal(0, 1, (2, 32))
    if swap:
        obj, background = background, obj
    centre = np.zeros((6, 6), dtype=bool)
    centre[2:4, 1:5] = True
    patches = np.where(centre[None, ..., None], obj, background) + rng.normal(0, 0.05, (3, 6, 6, 32))
    mask, colours = foreground_and_colours(patches, threshold=0.5)
    assert (mask == centre[None]).all()
    assert colours.shape == (3, 6, 6, 3) and colours.min() >= 0 and colours.max() <= 1
    assert (colours[~mask] == 0).all() and colours[mask].max() > 0


@pytest.mark.parametrize("where", ["local", "s3"])
def test_figure_is_a_png_with_one_row_per_image(tiny_export, tmp_path, s3_bucket, where):
    colours = [(200, 30, 30), (30, 30, 200)]
    inputs = []
    for i, colour in enumerate(colours):
        uri = str(tmp_path / f"in{i}.png")
        Image.new("RGB", (48, 40), colour).save(uri)
        inputs.append(uri)
    out = str(tmp_path / "pca.png") if where == "local" else f"{s3_bucket}/figures/pca.png"
    tile = 64
    write_pca_figure(tiny_export, inputs, out, EvalConfig(pca_tile=tile))
    data = storage.read_bytes(out)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    figure = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert figure.shape == (HEADER_PX + len(colours) * tile, len(COLUMNS) * tile, 3)
    for row, colour in enumerate(colours):
        cells = [
            figure[HEADER_PX + row * tile : HEADER_PX + (row + 1) * tile, c * tile : (c + 1) * tile] for c in range(3)
        ]
        assert np.abs(cells[0].reshape(-1, 3).mean(0) - colour).max() < 3  # the input as the encoder sees it
        assert set(np.unique(cells[1]).tolist()) <= {0, 255}  # a binary foreground mask
        assert (cells[2][cells[1].max(axis=-1) == 0] == 0).all()  # background is black in the RGB map


def test_unreadable_image_is_named(tiny_export, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        write_pca_figure(tiny_export, [str(bad)], str(tmp_path / "out.png"), EvalConfig())
