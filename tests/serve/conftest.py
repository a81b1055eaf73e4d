"""One Serve instance on a free loopback port for the serve tests: an open fp32 app (serve.auth none, the
loopback default) and a token-protected one at the default precision (auto: bf16 on CPUs with native bf16)."""

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import timm
import torch
import yaml

from synclr_ray.encoder import Encoder, export_encoder, load_encoder

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token-for-tests"
PROXY_TIMEOUT_S = 30
LIMITS = [
    "serve.max_batch_size=8",
    "serve.max_ongoing_requests=32",
    "serve.batch_wait_timeout_s=0.05",
    "serve.num_cpus=0.5",
    "serve.max_images_per_request=4",
    "serve.max_body_bytes=200000",
    "serve.max_image_side=2000",
    "serve.max_aspect_ratio=8",
    "serve.max_image_pixels=40000",
    "serve.max_request_pixels=100000",
]


@dataclass
class Server:
    url: str
    secure_url: str
    token: str
    encoder: Encoder


@pytest.fixture(scope="package")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small timm ViT exported in the project's format."""
    torch.manual_seed(0)
    args = {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 64, "num_heads": 2}
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, **args).eval()
    return export_encoder(vit, str(tmp_path_factory.mktemp("serve-export")), image_size=32, model_args=args)


@pytest.fixture(scope="package")
def server(ray_cluster: None, export_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Both apps built from serve/config.yaml's import path and args, behind one HTTP proxy."""
    from ray import serve
    from ray.serve.api import RunTarget

    from serve.app import AppArgs, app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token_file = tmp_path_factory.mktemp("secret") / "token"
    token_file.write_text(TOKEN + "\n")
    spec = yaml.safe_load((REPO / "serve" / "config.yaml").read_text())["applications"][0]
    open_args = AppArgs.model_validate(
        {**spec["args"], "encoder": export_dir, "overrides": [*LIMITS, "serve.precision=fp32"]}
    )
    secure_args = open_args.model_copy(
        update={"overrides": [*LIMITS, "serve.auth=required", f"serve.auth_token_file={token_file}"]}
    )
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": PROXY_TIMEOUT_S})
    try:
        serve.run_many(
            [
                RunTarget(app(open_args), name="open", route_prefix=spec["route_prefix"]),
                RunTarget(app(secure_args), name="secure", route_prefix="/secure"),
            ]
        )
        base = f"http://127.0.0.1:{port}"
        yield Server(url=base, secure_url=f"{base}/secure", token=TOKEN, encoder=load_encoder(export_dir))
    finally:
        serve.shutdown()
