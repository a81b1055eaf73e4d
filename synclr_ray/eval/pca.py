"""The paper's Figure 5: PCA of patch features, first component as a foreground mask, three as RGB.

The first component is fitted per image, rescaled to [0, 1] and oriented so that the image
border is low (background), then thresholded into a foreground mask; per image, because over
unrelated images it mostly tells the images apart. A second, 3-component PCA over the
foreground patches of all images together gives the colours (background black), so colours
mean the same thing across rows, as in DINOv2's figures.
"""

import io
import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from sklearn.decomposition import PCA

from synclr_ray import storage
from synclr_ray.config.eval import EvalConfig
from synclr_ray.device import resolve
from synclr_ray.encoder import Encoder, load_encoder

COLUMNS = ("input", "1st component > threshold", "components 1-3 as RGB")
HEADER_PX = 24


def patch_features(encoder: Encoder, images: list[Image.Image]) -> tuple[torch.Tensor, np.ndarray]:
    """The preprocessed batch and its patch tokens as an (images, rows, cols, dim) array."""
    pixels = encoder.preprocess(images)
    with torch.inference_mode():
        tokens = encoder.model.forward_features(pixels.to(next(encoder.model.parameters()).device))
    patches = tokens[:, getattr(encoder.model, "num_prefix_tokens", 1) :].float().cpu().numpy()
    side = math.isqrt(patches.shape[1])
    if side * side != patches.shape[1]:
        raise ValueError(f"encoder {encoder.info['id']}: {patches.shape[1]} patch tokens do not form a square grid")
    return pixels, patches.reshape(len(images), side, side, -1)


def foreground_and_colours(patches: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Foreground mask (images, rows, cols) and RGB colours in [0, 1] (images, rows, cols, 3)."""
    n, h, w, dim = patches.shape
    mask = np.stack([_foreground(image.reshape(-1, dim), h, w) > threshold for image in patches])
    flat, on = patches.reshape(-1, dim), mask.reshape(-1)
    fitted_on = flat[on] if on.sum() >= 3 else flat
    colours = PCA(n_components=3).fit(fitted_on).transform(flat)
    ref = colours[on] if on.sum() >= 3 else colours
    lo, hi = ref.min(axis=0), ref.max(axis=0)
    colours = np.clip((colours - lo) / np.maximum(hi - lo, 1e-12), 0, 1).reshape(n, h, w, 3)
    return mask, colours * mask[..., None]


def _foreground(flat: np.ndarray, h: int, w: int) -> np.ndarray:
    """One image's first component in [0, 1], high on the object: the PCA sign is arbitrary, the border is background."""
    first = PCA(n_components=1).fit_transform(flat)[:, 0]
    first = ((first - first.min()) / max(float(np.ptp(first)), 1e-12)).reshape(h, w)
    border = np.ones((h, w), dtype=bool)
    border[1:-1, 1:-1] = False
    return 1 - first if first[border].mean() > first.mean() else first


def pca_figure(encoder: Encoder, images: list[Image.Image], threshold: float, tile: int) -> Image.Image:
    """One row per image: the input as the encoder sees it, the foreground mask, the RGB components."""
    if not images:
        raise ValueError("pca: no images given")
    pixels, patches = patch_features(encoder, images)
    mask, colours = foreground_and_colours(patches, threshold)
    mean = torch.tensor(encoder.info["mean"]).view(3, 1, 1)
    std = torch.tensor(encoder.info["std"]).view(3, 1, 1)
    seen = ((pixels.cpu() * std + mean).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    figure = Image.new("RGB", (len(COLUMNS) * tile, HEADER_PX + len(images) * tile), "white")
    draw = ImageDraw.Draw(figure)
    for col, title in enumerate(COLUMNS):
        draw.text((col * tile + 4, 6), title, fill="black")
    for row in range(len(images)):
        cells = (
            Image.fromarray(seen[row]).resize((tile, tile), Image.Resampling.BICUBIC),
            _nearest((mask[row] * 255).astype(np.uint8), tile),
            _nearest((colours[row] * 255).round().astype(np.uint8), tile),
        )
        for col, cell in enumerate(cells):
            figure.paste(cell.convert("RGB"), (col * tile, HEADER_PX + row * tile))
    return figure


def png_bytes(image: Image.Image) -> bytes:
    """The image encoded as PNG."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _nearest(grid: np.ndarray, tile: int) -> Image.Image:
    return Image.fromarray(grid).resize((tile, tile), Image.Resampling.NEAREST)


def write_pca_figure(encoder_uri: str, image_uris: list[str], out_uri: str, cfg: EvalConfig) -> str:
    """Load the encoder and images (local or s3://), draw the figure, write it as PNG; returns ``out_uri``."""
    encoder = load_encoder(encoder_uri, str(resolve().device))
    images = []
    for uri in image_uris:
        try:
            images.append(Image.open(io.BytesIO(storage.read_bytes(uri))).convert("RGB"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"pca: cannot read image {uri} ({exc})") from None
    storage.write_bytes(out_uri, png_bytes(pca_figure(encoder, images, cfg.pca_threshold, cfg.pca_tile)))
    return out_uri
