"""Fixtures for the tests that call a running endpoint (tests/serving, ``synclr embed`` in tests/cli): one Serve
instance on a free loopback port with an open fp32 app (serve.auth none, the loopback default) and a token-protected
one at the default precision (auto: bf16 on CPUs with native bf16); and a plain HTTP server of image files whose
``/allowed/`` folder is on the open app's URL allow-list.

Registered by tests/conftest.py (``pytest_plugins``). The tests that use ``server`` run one after another (see
``pytest_collection_modifyitems``), and Serve is shut down after the last of them."""

import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import timm
import torch
import yaml

from synclr_ray.encoder import Encoder, export_encoder, load_encoder

REPO = Path(__file__).resolve().parents[1]
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
    files_url: str  # the image host; files_dir/allowed/* are on the open app's serve.url_allow_list
    files_dir: Path


class _FilesHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, plus ``/allowed/redirect`` answering 302 to a file outside the allowed folder."""

    def do_GET(self) -> None:
        if self.path == "/allowed/redirect":
            self.send_response(302)
            self.send_header("Location", "/elsewhere/image.png")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture(scope="session")
def image_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server of a temporary folder: (base URL, folder)."""
    folder = tmp_path_factory.mktemp("image-host")
    (folder / "allowed").mkdir()
    (folder / "elsewhere").mkdir()
    handler = functools.partial(_FilesHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small timm ViT exported in the project's format."""
    torch.manual_seed(0)
    args = {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 64, "num_heads": 2}
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, **args).eval()
    return export_encoder(vit, str(tmp_path_factory.mktemp("serve-export")), image_size=32, model_args=args)


@pytest.fixture(scope="session")
def server(
    ray_cluster: None, export_dir: str, image_host: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Both apps built from serve/config.yaml's import path and args, behind one HTTP proxy."""
    from ray import serve
    from ray.serve.api import RunTarget

    from synclr_ray.serving.app import AppArgs, app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token_file = tmp_path_factory.mktemp("secret") / "token"
    token_file.write_text(TOKEN + "\n")
    spec = yaml.safe_load((REPO / "serve" / "config.yaml").read_text())["applications"][0]
    files_url, files_dir = image_host
    allow = f"serve.url_allow_list=[{files_url}/allowed/]"
    open_args = AppArgs.model_validate(
        {**spec["args"], "encoder": export_dir, "overrides": [*LIMITS, "serve.precision=fp32", allow]}
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
        encoder = load_encoder(export_dir)
        yield Server(base, f"{base}/secure", TOKEN, encoder, files_url, files_dir)
    finally:
        serve.shutdown()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that use ``server`` one after another, from where the first of them was collected."""
    users = [item for item in items if "server" in item.fixturenames]
    if users:
        first = items.index(users[0])
        others = [item for item in items if "server" not in item.fixturenames]
        items[:] = others[:first] + users + others[first:]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Shut Serve down after the last test that uses ``server``: its apps would hold the route prefixes later
    tests (the demo, exports) deploy at."""
    result = yield
    if "server" in item.fixturenames and (nextitem is None or "server" not in nextitem.fixturenames):
        import ray
        from ray import serve

        if ray.is_initialized():
            serve.shutdown()
    return result
