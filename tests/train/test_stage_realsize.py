"""One SynCLR training step of each paper preset at its real shapes (224 px, 65,536 prototypes), on CPU,
through the stage's own path: Ray Train, checkpoint, export, and one Serve embedding request."""

import base64
import json
import socket
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from gratings import caption_images, encode
from realsize_meter import measured, safetensors_params
from safetensors import safe_open

from synclr_ray.config import load_config
from synclr_ray.encoder import load_encoder
from synclr_ray.train.objective import SynCLR
from synclr_ray.train.stage import run_pretrain

pytestmark = pytest.mark.realsize

STORED_SIZE = 256  # what the image stage stores (images.store_size)
ONE_STEP = ["train.batch_captions=1", "train.num_workers=1", "train.use_gpu=false",
            "train.steps=1", "train.checkpoint_every=1", "train.log_every=1", "train.loader_tasks=1",
            "train.prefetch_batches=1", "ray.training_label=null", "ray.progress_bars=false",
            "serve.num_gpus=0", "serve.num_cpus=1", "serve.autoscaling.min_replicas=1",
            "serve.autoscaling.max_replicas=1"]  # fmt: skip
PROTOTYPES = "student.ibot_head.last_layer.parametrizations.weight.original1"


def _one_caption_two_images(directory: Path) -> bytes:
    images = [encode(image) for image in caption_images(1, size=STORED_SIZE, per_caption=2)[0]]
    directory.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"caption_id": "c0", "images": images}]), directory / "part-0.parquet")
    return images[0]


def _synclr_params(cfg) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in SynCLR(cfg.train).parameters())


def _embed_over_http(cfg, export: str, image: bytes) -> dict:
    from ray import serve

    from serve.app import APP_NAME, build_app

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


@pytest.mark.parametrize(("preset", "patch", "dim"), [("paper-vitb16", 16, 768), ("paper-vitl14", 14, 1024)])
def test_one_step_at_real_size_through_checkpoint_export_and_serve(preset, patch, dim, ray_cluster, tmp_path, capsys):
    cfg = load_config(preset, ONE_STEP)
    root = tmp_path / "run"
    image = _one_caption_two_images(root / "images")
    with measured(f"train {preset}: one step, 1 caption x 2 images", _synclr_params(cfg), capsys):
        result = run_pretrain(cfg, str(root), steps=1)
        answer = _embed_over_http(cfg, result["export"], image)

    checkpoint = Path(result["checkpoint"])
    assert json.loads((checkpoint / "state.json").read_text())["step"] == 1
    with safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        assert f.get_slice(PROTOTYPES).get_shape() == [65536, 256]
    metrics = [json.loads(line) for line in (root / "train" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1] and all(torch.isfinite(torch.tensor(m["loss"])) for m in metrics)
    encoder = load_encoder(result["export"])
    assert encoder.info["image_size"] == 224 and encoder.info["feature_dim"] == dim
    assert encoder.model.patch_embed.patch_size == (patch, patch)
    assert safetensors_params(Path(result["export"])) == sum(p.numel() for p in encoder.model.parameters())
    assert answer["dim"] == dim and len(answer["embeddings"]) == 1
    assert abs(sum(x * x for x in answer["embeddings"][0]) - 1) < 1e-3
