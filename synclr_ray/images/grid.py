"""``synclr show``: a grid of captions with their images, the caption under each row (paper Figure 4)."""

import io

import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

from synclr_ray import rows, storage
from synclr_ray.images.encoding import decode_image
from synclr_ray.runroot import RunRoot

PAD = 8
FONT_SIZE = 13
TEXT_LINES = 3


def grid_size(rows: int, columns: int, cell: int) -> tuple[int, int]:
    """Pixel size of a grid of ``rows`` captions with ``columns`` images of ``cell`` pixels each."""
    band = TEXT_LINES * (FONT_SIZE + 3) + PAD
    return columns * cell + (columns + 1) * PAD, rows * (cell + band) + PAD


def write_samples_grid(root: str, rows: int = 8, cell: int = 160, images_uri: str | None = None) -> str:
    """Write ROOT/figures/samples.png from the first ``rows`` committed image rows under ``images_uri``
    (default ROOT/images; a streaming run's ROOT/stream works too); returns its URI."""
    images_uri = images_uri or RunRoot(root).images
    samples = _first_rows(images_uri, rows)
    if not samples:
        raise FileNotFoundError(f"no committed image rows under {images_uri}: run `synclr images` first")
    columns = max(len(images) for _, images in samples)
    width, height = grid_size(len(samples), columns, cell)
    band = TEXT_LINES * (FONT_SIZE + 3) + PAD
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=FONT_SIZE)
    for row, (caption, images) in enumerate(samples):
        top = PAD + row * (cell + band)
        for column, data in enumerate(images):
            tile = decode_image(data).resize((cell, cell), Image.Resampling.LANCZOS)
            canvas.paste(tile, (PAD + column * (cell + PAD), top))
        for line, text in enumerate(_wrap(caption, font, width - 2 * PAD)):
            draw.text((PAD, top + cell + 2 + line * (FONT_SIZE + 3)), text, fill="black", font=font)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    out = storage.join(RunRoot(root).figures, "samples.png")
    storage.write_bytes(out, buffer.getvalue())
    return out


def _first_rows(images_uri: str, count: int) -> list[tuple[str, list[bytes]]]:
    samples: list[tuple[str, list[bytes]]] = []
    for uri in rows.CommitLog(images_uri).files():
        if len(samples) >= count:
            break
        fs, path = storage.filesystem(uri)
        table = pq.read_table(path, filesystem=fs, columns=["caption", "images"])
        samples += list(zip(table["caption"].to_pylist(), table["images"].to_pylist(), strict=True))
    return samples[:count]


def _wrap(text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels, at most TEXT_LINES lines, an ellipsis when cut."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < TEXT_LINES:
        line = words.pop(0)
        while words and font.getlength(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        lines.append(line)
    if words:
        lines[-1] = lines[-1].rstrip(".,;") + " ..."
    return lines
