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
from PIL import Image
from sklearn.decomposition import PCA

from synclr_ray import storage
from synclr_ray.config.eval import EvalConfig
from synclr_ray.device import resolve
from synclr_ray.encoder import Encoder, load_encoder

COLUMNS = ("input", "foreground (PC 1)", "PCs 1-3 as RGB")
HEADER_PX = 24
DPI = 100


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


def pca_figure(encoder: Encoder, images: list[Image.Image], threshold: float, tile: int) -> bytes:
    """One row per image: the input as the encoder sees it, the foreground mask, the RGB components; as PNG
    bytes, each cell ``tile`` pixels square below a header of column titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not images:
        raise ValueError("pca: no images given")
    pixels, patches = patch_features(encoder, images)
    mask, colours = foreground_and_colours(patches, threshold)
    mean = torch.tensor(encoder.info["mean"]).view(3, 1, 1)
    std = torch.tensor(encoder.info["std"]).view(3, 1, 1)
    seen = ((pixels.cpu() * std + mean).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    width, height = len(COLUMNS) * tile, HEADER_PX + len(images) * tile
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    fontsize = min(8.0, tile / (0.9 * max(map(len, COLUMNS))))  # a title fits its column
    for col, title in enumerate(COLUMNS):
        fig.text(
            (col + 0.5) * tile / width, 1 - HEADER_PX / 2 / height, title, ha="center", va="center", fontsize=fontsize
        )
    for row in range(len(images)):
        cells = (
            (np.asarray(Image.fromarray(seen[row]).resize((tile, tile), Image.Resampling.BICUBIC)), {}),
            (mask[row].astype(float), {"cmap": "gray", "vmin": 0, "vmax": 1}),
            (colours[row], {}),
        )
        for col, (cell, style) in enumerate(cells):
            # One axes per cell at whole-pixel bounds, drawn nearest-neighbour: a patch is a block of pixels.
            ax = fig.add_axes(
                (col * tile / width, 1 - (HEADER_PX + (row + 1) * tile) / height, tile / width, tile / height)
            )
            ax.imshow(cell, interpolation="nearest", aspect="auto", **style)
            ax.set_axis_off()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def write_pca_figure(encoder_uri: str, image_uris: list[str], out_uri: str, cfg: EvalConfig) -> str:
    """Load the encoder and images (local or s3://), draw the figure, write it as PNG; returns ``out_uri``."""
    encoder = load_encoder(encoder_uri, str(resolve().device))
    images = []
    for uri in image_uris:
        try:
            images.append(Image.open(io.BytesIO(storage.read_bytes(uri))).convert("RGB"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"pca: cannot read image {uri} ({exc})") from None
    storage.write_bytes(out_uri, pca_figure(encoder, images, cfg.pca_threshold, cfg.pca_tile))
    return out_uri
