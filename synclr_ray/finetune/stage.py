"""``run_finetune``: fine-tune an export on a classification dataset with Ray Train, then top-1 on its test split."""

import logging

from synclr_ray import storage
from synclr_ray.cluster import run_data_in
from synclr_ray.config import Config
from synclr_ray.downstream.trainer import fit_task, predict
from synclr_ray.encoder import load_encoder
from synclr_ray.eval.datasets import load_dataset
from synclr_ray.eval.metrics import accuracies
from synclr_ray.finetune.task import FinetuneTask
from synclr_ray.runroot import save_config

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"


def run_finetune(cfg: Config, encoder_uri: str, dataset: str, out: str, steps: int | None = None) -> dict:
    """Fine-tune into ``out/train`` (resumes from its latest checkpoint), evaluate, write ``out/result.json``.

    Trains on ``train/`` and reports on ``test/`` (else ``val/``): top-1 and mean per-class accuracy of
    the fine-tuned model and of its EMA.
    """
    run_data_in(cfg.ray.training_label)  # its datasets (ingest, shuffle, scoring) run on the training nodes
    info = load_encoder(encoder_uri).info  # fails fast, before any Ray work, on a bad export
    data = load_dataset(dataset)
    task = FinetuneTask(cfg, info["id"], info, num_classes=len(data.classes))  # the version loaded above
    save_config(cfg, out)
    # One global shuffle with a fixed seed (ImageFolder rows come class by class); each epoch
    # adds its own local shuffle on every rank.
    train_rows = data.rows.filter(expr="split == 'train'").random_shuffle(seed=cfg.seed)
    checkpoint = fit_task(task, train_rows, storage.join(out, "train"), steps)
    split = "test" if "test" in data.split_sizes else "val"
    log.info("finetune: evaluating %s on %s", checkpoint.path, split)
    predictions = predict(task, data.rows.filter(expr=f"split == '{split}'"), checkpoint)
    models = {
        name: accuracies(predictions["label"], predictions[name]) for name in ("model", "ema") if name in predictions
    }
    result = {
        "encoder": info,
        "dataset": data.describe(),
        "split": split,
        "step": steps or cfg.finetune.steps,
        "checkpoint": checkpoint.path,
        "models": models,
        "config": cfg.model_dump(mode="json"),
    }
    storage.write_json(storage.join(out, RESULT_FILE), result)
    return result
