"""Frozen CLS features of an encoder (and its random baseline) over a dataset, in a Ray Data actor pool."""

import io
from dataclasses import dataclass

import numpy as np
import ray
import torch
from PIL import Image

from synclr_ray.config.eval import EvalConfig
from synclr_ray.encoder import Encoder, load_encoder
from synclr_ray.eval.baseline import random_baseline

ENCODER = "encoder"
BASELINE = "baseline"


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
    """Ray Data actor: loads the encoder once (plus its seeded random baseline) and embeds batches.

    Preprocessing is the encoder's own (`Encoder.preprocess`), shared with serving and figures.
    """

    def __init__(self, encoder_uri: str, baseline_seed: int | None) -> None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        encoder = load_encoder(encoder_uri, device)
        self.models: dict[str, Encoder] = {ENCODER: encoder}
        if baseline_seed is not None:
            self.models[BASELINE] = random_baseline(encoder, baseline_seed, device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = [_decode(data, row_id) for data, row_id in zip(batch["image"], batch["id"], strict=True)]
        pixels = self.models[ENCODER].preprocess(images)
        out = {"id": batch["id"], "label": batch["label"], "split": batch["split"]}
        for name, model in self.models.items():
            out[name] = model.features(pixels, pool="cls").float().cpu().numpy()
        return out


def extract_features(
    rows: ray.data.Dataset, encoder_uri: str, cfg: EvalConfig, baseline_seed: int | None = None
) -> Features:
    """CLS features of every row of a `LabelledImages.rows` dataset; with ``baseline_seed``, also the baseline's."""
    embedded = rows.map_batches(
        FeatureExtractor,
        fn_constructor_kwargs={"encoder_uri": encoder_uri, "baseline_seed": baseline_seed},
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
    models = [name for name in (ENCODER, BASELINE) if name in table]
    return Features(
        ids=table["id"][order],
        labels=table["label"][order],
        splits=table["split"][order],
        values={name: table[name][order] for name in models},
    )


def _decode(data: bytes, row_id: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:
        raise ValueError(f"image {row_id}: cannot decode ({exc})") from None
    return image
