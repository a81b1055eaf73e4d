"""``run_segment``: train a segmentation head on an export with Ray Train, then mIoU on the validation split."""

import logging

import numpy as np

from synclr_ray import storage
from synclr_ray.cluster import run_data_in
from synclr_ray.config import Config
from synclr_ray.downstream.trainer import fit_task, predict
from synclr_ray.encoder import load_encoder
from synclr_ray.runroot import save_config
from synclr_ray.segment.layout import ade_layout
from synclr_ray.segment.miou import scores
from synclr_ray.segment.task import SegmentTask

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"


def run_segment(cfg: Config, encoder_uri: str, dataset: str, out: str, steps: int | None = None) -> dict:
    """Train into ``out/train`` (resumes from its latest checkpoint), score ``validation/``, write ``out/result.json``."""
    run_data_in(cfg.ray.training_label)  # its datasets (ingest, shuffle, scoring) run on the training nodes
    encoder = load_encoder(encoder_uri)  # fails fast, before any Ray work, on a bad export
    info = {**encoder.info, "depth": len(encoder.model.blocks)}
    data = ade_layout(dataset)
    task = SegmentTask(cfg, info["id"], info, num_classes=cfg.segment.num_classes)  # the version loaded above
    save_config(cfg, out)
    train_rows = data.rows.filter(expr="split == 'train'").random_shuffle(seed=cfg.seed)
    checkpoint = fit_task(task, train_rows, storage.join(out, "train"), steps)
    log.info("segment: scoring %s on the validation split", checkpoint.path)
    predictions = predict(task, data.rows.filter(expr="split == 'val'"), checkpoint)
    matrix = predictions["confusion"].sum(axis=0).reshape(task.num_classes, task.num_classes)
    result = {
        "encoder": info,
        "dataset": data.describe(),
        "head": cfg.segment.head,
        "frozen_encoder": cfg.segment.head == "linear" or cfg.segment.freeze_encoder,
        "step": steps or cfg.segment.steps,
        "checkpoint": checkpoint.path,
        **scores(matrix),
        "confusion": np.asarray(matrix).tolist(),
        "config": cfg.model_dump(mode="json"),
    }
    storage.write_json(storage.join(out, RESULT_FILE), result)
    return result
