"""Frozen CLS features of an encoder (and its random baseline) over a dataset, in a Ray Data actor pool."""

import io
from dataclasses import dataclass

import numpy as np
import ray
import torch
from PIL import Image

from synclr_ray.config.eval import EvalConfig
from synclr_ray.device import resolve
from synclr_ray.encoder import Encoder, load_encoder
from synclr_ray.eval.baseline import random_baseline
from synclr_ray.eval.encoders import load_any_encoder

ENCODER = "encoder"
BASELINE = "baseline"
COMPARE = "compare"
MODELS = (ENCODER, BASELINE, COMPARE)


@dataclass(frozen=True)
class Features:
    """Per-image features, sorted by row id so results do not depend on execution order."""

    ids: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    values: dict[str, np.ndarray]

    def split(self, name: str, model: str = ENCODER) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels of one split (``train``, ``val``, ``test``) for one model."""
        mask = self.splits == name
        return self.values[model][mask], self.labels[mask]


class FeatureExtractor:
    """Ray Data actor: loads the encoder once (plus its seeded random baseline and a model to compare) and
    embeds batches.

    Preprocessing is each model's own (`Encoder.preprocess`, shared with serving and figures); the
    baseline shares the encoder's.
    """

    def __init__(self, encoder_uri: str, baseline_seed: int | None, compare: str | None = None) -> None:
        device = str(resolve().device)
        encoder = load_encoder(encoder_uri, device)
        self.models: dict[str, Encoder] = {ENCODER: encoder}
        if baseline_seed is not None:
            self.models[BASELINE] = random_baseline(encoder, baseline_seed, device)
        if compare is not None:
            self.models[COMPARE] = load_any_encoder(compare, device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = [decode_image(data, row_id) for data, row_id in zip(batch["image"], batch["id"], strict=True)]
        out = {key: value for key, value in batch.items() if key != "image"}  # id, label, split, ... as given
        pixels: dict[int, torch.Tensor] = {}
        for name, model in self.models.items():
            key = id(model.transform)
            if key not in pixels:
                pixels[key] = model.preprocess(images)
            out[name] = model.features(pixels[key], pool="cls").float().cpu().numpy()
        return out


def extract_features(
    rows: ray.data.Dataset,
    encoder_uri: str,
    cfg: EvalConfig,
    baseline_seed: int | None = None,
    compare: str | None = None,
) -> Features:
    """CLS features of every row of a `LabelledImages.rows` dataset; with ``baseline_seed``, also the baseline's,
    with ``compare`` (an export or timm model id), also that model's."""
    embedded = rows.map_batches(
        FeatureExtractor,
        fn_constructor_kwargs={"encoder_uri": encoder_uri, "baseline_seed": baseline_seed, "compare": compare},
        batch_size=cfg.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=cfg.pool.min_size, max_size=cfg.pool.max_size),
        num_cpus=1,
        num_gpus=cfg.num_gpus,
    )
    columns: dict[str, list[np.ndarray]] = {}
    for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
        for key, value in batch.items():
            columns.setdefault(key, []).append(value)
    if not columns:
        raise ValueError("dataset has no images")
    table = {key: np.concatenate(parts) for key, parts in columns.items()}
    order = np.argsort(table["id"], kind="stable")
    models = [name for name in MODELS if name in table]
    return Features(
        ids=table["id"][order],
        labels=table["label"][order],
        splits=table["split"][order],
        values={name: table[name][order] for name in models},
    )


def decode_image(data: bytes, row_id: str) -> Image.Image:
    """An encoded image, fully read; the error names the row."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:
        raise ValueError(f"image {row_id}: cannot decode ({exc})") from None
    return image
