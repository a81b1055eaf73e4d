"""One SynCLR training step of each paper preset at its real shapes (224 px, 65,536 prototypes), on CPU,
through the stage's own path: Ray Train with its ingest and loop, then for ViT-B/16 the checkpoint's
round trip into the export and one Serve embedding request. ViT-L/14's step (student, teacher and
AdamW state ~7 GB) writes its checkpoint but skips the round trip, which would load it once more
into the driver on a machine others share."""

import base64
import json
import shutil
import socket
from pathlib import Path

import httpx
import pytest
import ray
import torch
from gratings import image_rows
from realsize_meter import measured, safetensors_params
from safetensors import safe_open

from synclr_ray import rows
from synclr_ray.config import load_config
from synclr_ray.encoder import load_encoder
from synclr_ray.train.objective import SynCLR
from synclr_ray.train.stage import fit, run_pretrain

pytestmark = pytest.mark.realsize

STORED_SIZE = 256  # what the image stage stores (images.store_size)
ONE_STEP = ["train.batch_captions=1", "train.num_workers=1", "train.use_gpu=false",
            "train.steps=1", "train.checkpoint_every=1", "train.log_every=1", "train.loader_tasks=1",
            "train.prefetch_batches=1", "ray.training_label=null", "ray.progress_bars=false",
            "serve.num_gpus=0", "serve.num_cpus=1", "serve.autoscaling.min_replicas=1",
            "serve.autoscaling.max_replicas=1"]  # fmt: skip
PROTOTYPES = "student.ibot_head.last_layer.parametrizations.weight.original1"


def _one_caption_two_images(directory: Path) -> bytes:
    """One committed image row (`rows.IMAGE_SCHEMA`) of 2 images; returns the first image's bytes."""
    table = image_rows(1, size=STORED_SIZE, per_caption=2)
    rows.write_rows(str(directory), "part-0", table, rows.IMAGE_SCHEMA)
    return table["images"][0][0].as_py()


def _synclr_params(cfg) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in SynCLR(cfg.train).parameters())


def _embed_over_http(cfg, export: str, image: bytes) -> dict:
    from ray import serve

    from synclr_ray.serving.app import APP_NAME, build_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(build_app(cfg.model_copy(update={"serve": cfg.serve.model_copy(update={"encoder": export})})),
                  name=APP_NAME, route_prefix="/")  # fmt: skip
        body = {"images": [base64.b64encode(image).decode()], "pool": "cls", "normalize": True}
        response = httpx.post(f"http://127.0.0.1:{port}/v1/embeddings", json=body, timeout=300)
        response.raise_for_status()
        return response.json()
    finally:
        serve.shutdown()


def _check_checkpoint(checkpoint: Path, train_dir: Path) -> None:
    assert json.loads((checkpoint / "state.json").read_text())["step"] == 1
    with safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        assert f.get_slice(PROTOTYPES).get_shape() == [65536, 256]
    metrics = [json.loads(line) for line in (train_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1] and torch.isfinite(torch.tensor(metrics[0]["loss"]))


def test_vitb16_step_through_checkpoint_export_and_serve(ray_cluster, tmp_path, capsys):
    cfg = load_config("paper-vitb16", ONE_STEP)
    root = tmp_path / "run"
    image = _one_caption_two_images(root / "images")
    with measured("train paper-vitb16: one step of 1 caption x 2 images, export, Serve", _synclr_params(cfg), capsys):
        result = run_pretrain(cfg, str(root), steps=1)
        answer = _embed_over_http(cfg, result["export"], image)

    _check_checkpoint(Path(result["checkpoint"]), root / "train")
    encoder = load_encoder(result["export"])
    assert encoder.info["image_size"] == 224 and encoder.info["feature_dim"] == 768
    assert encoder.model.patch_embed.patch_size == (16, 16)
    assert safetensors_params(Path(result["export"])) == sum(p.numel() for p in encoder.model.parameters())
    assert answer["dim"] == 768 and len(answer["embeddings"]) == 1
    assert abs(sum(x * x for x in answer["embeddings"][0]) - 1) < 1e-3
    shutil.rmtree(root)  # ~2 GB of checkpoint


def test_vitl14_step_with_98px_local_crops(ray_cluster, tmp_path, capsys):
    cfg = load_config("paper-vitl14", ONE_STEP)
    assert (cfg.train.crops.global_size, cfg.train.crops.local_size, cfg.train.crops.num_local) == (224, 98, 4)
    root = tmp_path / "run"
    _one_caption_two_images(root / "images")
    dataset = ray.data.read_parquet(rows.committed_files(str(root / "images"), "image rows", "written above"))
    with measured("train paper-vitl14: one step of 1 caption x 2 images", _synclr_params(cfg), capsys):
        result = fit(cfg, dataset, str(root / "train"), steps=1)

    _check_checkpoint(Path(result.checkpoint.path), root / "train")
    shutil.rmtree(root)  # ~6 GB of checkpoint
