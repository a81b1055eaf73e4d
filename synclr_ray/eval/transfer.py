"""The linear transfer suite (paper Table 6): every dataset of ``transfer.datasets`` probed, one table out.

Per dataset, features of the encoder, its random-init baseline and (optionally) a model to compare
are extracted once in the Ray Data actor pool, and each model gets the linear probe of
`synclr_ray.eval.linear_probe` (C swept on a validation split, refit on train+val). Each dataset's
result is written as soon as it is done, so a rerun with the same encoders and settings only
computes the datasets still missing.
"""

import logging

from synclr_ray import storage
from synclr_ray.cluster import run_data_in
from synclr_ray.config import Config
from synclr_ray.encoder import load_encoder
from synclr_ray.eval.datasets import LabelledImages, load_dataset
from synclr_ray.eval.encoders import load_any_encoder
from synclr_ray.eval.features import BASELINE, COMPARE, ENCODER, extract_features
from synclr_ray.eval.probe import evaluate
from synclr_ray.eval.table import suite_table, to_markdown, write_bar_chart
from synclr_ray.runroot import save_config

log = logging.getLogger(__name__)

TABLE_MD, TABLE_JSON, TABLE_PNG = "transfer.md", "transfer.json", "transfer.png"


def run_transfer(encoder_uri: str, cfg: Config, out: str, compare: str | None = None) -> dict:
    """Probe ``encoder_uri`` (and its baseline, and ``compare``) on every suite dataset; write the table under ``out``.

    Every dataset is validated before any features are extracted. Returns the table (see `suite_table`).
    """
    run_data_in(cfg.ray.training_label)  # its datasets run on the training nodes (encoder inference)
    uris = cfg.transfer.uris()
    models = {ENCODER: load_encoder(encoder_uri).info}  # fails fast, before any Ray work, on a bad export
    if compare is not None:
        models[COMPARE] = load_any_encoder(compare).info
    datasets = {name: load_dataset(uri) for name, uri in uris.items()}
    save_config(cfg, out)
    titles = {ENCODER: "encoder", BASELINE: "random-init", **({COMPARE: compare} if compare else {})}
    results = {name: _dataset_result(name, uris[name], data, encoder_uri, compare, cfg, models, out)
               for name, data in datasets.items()}  # fmt: skip
    suite = cfg.transfer.datasets
    table = suite_table(results, {d.name: d.metric for d in suite}, titles, [d.name for d in suite if d.average])
    table["encoders"] = {**models, BASELINE: {"architecture": models[ENCODER]["architecture"], "seed": cfg.seed}}
    storage.write_text(storage.join(out, TABLE_MD), to_markdown(table))
    storage.write_json(storage.join(out, TABLE_JSON), table)
    write_bar_chart(table, storage.join(out, TABLE_PNG))
    return table


def _dataset_result(
    name: str,
    uri: str,
    data: LabelledImages,
    encoder_uri: str,
    compare: str | None,
    cfg: Config,
    models: dict[str, dict],
    out: str,
) -> dict:
    """The probe of one dataset, reused from ``out/datasets/NAME.json`` when it was made the same way."""
    result_uri = storage.join(out, "datasets", f"{name}.json")
    # What the numbers depend on: a change of any of it recomputes the dataset.
    made_with = {
        "uri": uri,
        "encoders": {m: {"id": i["id"], "digest": i["digest"]} for m, i in models.items()},
        "seed": cfg.seed,
        "eval": cfg.eval.model_dump(
            mode="json", exclude={"batch_size", "num_gpus", "pool", "pca_threshold", "pca_tile"}
        ),
    }
    if storage.exists(result_uri):
        previous = storage.read_json(result_uri)
        if previous.get("made_with") == made_with:
            log.info("transfer: %s already probed (%s)", name, result_uri)
            return previous
    log.info("transfer: extracting features of %s (%s)", name, uri)
    features = extract_features(data.rows, encoder_uri, cfg.eval, baseline_seed=cfg.seed, compare=compare)
    result = {"made_with": made_with, "dataset": data.describe(), **evaluate(features, cfg.eval, cfg.seed)}
    storage.write_json(result_uri, result)
    return result
