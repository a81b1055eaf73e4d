"""Versioned exports: whole versions only, ``latest`` written last, node caches keyed by content digest."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import timm
import torch

from synclr_ray import exports, storage
from synclr_ray.config import load_config
from synclr_ray.encoder import export_encoder, load_encoder

ARGS = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVE_PORT = _free_port()


def _vit(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm.create_model("vit_tiny_patch16_224", num_classes=0, **ARGS).eval()


def _publish(root: str, seed: int, step: int, tmp_path: Path) -> str:
    out = tmp_path / f"files-{seed}-{step}"
    export_encoder(_vit(seed), str(out), image_size=32, model_args=ARGS)
    return exports.publish(out, root, step)


@pytest.fixture(params=["local", "s3"])
def export_root(request, tmp_path, s3_bucket, monkeypatch):
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path / "cache"))
    return str(tmp_path / "run" / "export") if request.param == "local" else f"{s3_bucket}/run/export"


def test_each_export_is_a_version_and_latest_names_the_newest(export_root, tmp_path):
    first = _publish(export_root, seed=0, step=100, tmp_path=tmp_path)
    name = first.rsplit("/", 1)[1]
    assert exports.VERSION_PATTERN.match(name) and name.startswith("step-00000100-")
    manifest = storage.read_json(f"{first}/{exports.MANIFEST_FILE}")
    assert manifest["step"] == 100 and set(manifest["files"]) == {"model.safetensors", "config.json"}
    assert name[-8:] == manifest["digest"].removeprefix("sha256:")[:8]
    assert exports.resolve(export_root) == first
    assert _publish(export_root, seed=0, step=100, tmp_path=tmp_path / "again") == first  # same content: same version

    second = _publish(export_root, seed=1, step=200, tmp_path=tmp_path)
    assert exports.resolve(export_root) == second and exports.resolve(first) == first  # old versions stay loadable
    old, new = load_encoder(first), load_encoder(export_root)
    assert new.info["id"] == second and old.info["id"] == first
    assert new.info["digest"] != old.info["digest"]
    assert (
        new.info["digest"]
        == "sha256:" + storage.read_json(f"{second}/{exports.MANIFEST_FILE}")["files"]["model.safetensors"]
    )
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(new.features(x), _vit(1).forward_features(x)[:, 0], atol=1e-6)


def test_a_version_without_its_manifest_is_never_loaded(export_root, tmp_path):
    good = _publish(export_root, seed=0, step=100, tmp_path=tmp_path)
    # What an exporter killed before its manifest leaves on an object store: every file but the manifest.
    half = storage.join(export_root, "step-00000200-0123abcd")
    for name in ("model.safetensors", "config.json"):
        storage.write_bytes(storage.join(half, name), storage.read_bytes(storage.join(good, name)))
    assert exports.resolve(export_root) == good
    with pytest.raises(exports.IncompleteExportError, match=r"incomplete export version \(no _export.json"):
        load_encoder(half)
    storage.write_text(storage.join(export_root, exports.LATEST_FILE), "step-00000200-0123abcd\n")
    with pytest.raises(exports.IncompleteExportError, match="not a complete export version"):
        load_encoder(export_root)


def test_a_remote_version_is_cached_by_digest_and_checked_against_its_manifest(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path / "cache"))
    version = _publish(f"{s3_bucket}/export", seed=0, step=1, tmp_path=tmp_path)
    digest = storage.read_json(f"{version}/{exports.MANIFEST_FILE}")["digest"].removeprefix("sha256:")
    _, local, _ = exports.local_export(f"{s3_bucket}/export")
    assert local == tmp_path / "cache" / "remote" / digest
    # A file swapped under the version (a mix of two exports) is caught on a node without the copy.
    other = tmp_path / "other"
    export_encoder(_vit(5), str(other), image_size=32, model_args=ARGS)
    storage.write_bytes(f"{version}/model.safetensors", (other / "model.safetensors").read_bytes())
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path / "fresh-node"))
    with pytest.raises(exports.IncompleteExportError, match="model.safetensors is missing or differs"):
        load_encoder(f"{s3_bucket}/export")
    assert not (tmp_path / "fresh-node" / "remote" / digest).exists()


def test_local_versions_appear_whole(tmp_path):
    root = tmp_path / "export"
    version = Path(_publish(str(root), seed=0, step=3, tmp_path=tmp_path))
    assert sorted(p.name for p in root.iterdir()) == [exports.LATEST_FILE, version.name]  # no staging left
    assert sorted(p.name for p in version.iterdir()) == ["_export.json", "config.json", "model.safetensors"]
    json.loads((version / "config.json").read_text())


def test_plain_export_directories_still_load(tmp_path):
    export_encoder(_vit(0), str(tmp_path / "plain"), image_size=32, model_args=ARGS)
    assert exports.resolve(str(tmp_path / "plain")) == str(tmp_path / "plain")
    assert load_encoder(str(tmp_path / "plain")).info["feature_dim"] == 32


def test_non_finite_weights_are_never_exported(tmp_path):
    vit = _vit(0)
    with torch.no_grad():
        vit.blocks[0].attn.qkv.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"refusing to export non-finite weights \(1 tensors .*blocks.0.attn.qkv"):
        export_encoder(vit, str(tmp_path / "out"), image_size=32, model_args=ARGS)
    assert not (tmp_path / "out").exists()


class StallingProxy:
    """A TCP proxy in front of the S3 endpoint that forwards every request until one matches ``request``;
    that request is held forever, so the client blocks inside it: a process stopped mid-write, on cue."""

    def __init__(self, upstream: str, request: re.Pattern[bytes]) -> None:
        self.upstream = urlparse(upstream)
        self.request = request
        self.stalled = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection((self.upstream.hostname, self.upstream.port))
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        tail = b""
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if watch and (self.stalled.is_set() or self.request.search(tail + data)):
                    self.stalled.set()
                    continue  # swallowed: the request never reaches S3
                tail = data[-512:]
                sink.sendall(data)

    def close(self) -> None:
        self.server.close()


EXPORTER = f"""
import pathlib, sys, tempfile
import timm, torch
from synclr_ray import exports
from synclr_ray.encoder import export_encoder
torch.manual_seed(int(sys.argv[2]))
args = {ARGS}
vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, **args).eval()
with tempfile.TemporaryDirectory() as tmp:
    export_encoder(vit, tmp, image_size=32, model_args=args)
    exports.publish(pathlib.Path(tmp), sys.argv[1], int(sys.argv[3]))
"""


def _weights_digest(version: str) -> str:
    return "sha256:" + storage.read_json(f"{version}/{exports.MANIFEST_FILE}")["files"]["model.safetensors"]


def _deployed_model(root_or_version: str) -> dict:
    """Deploy the Serve app for an encoder setting (a redeploy replaces the replicas) and ask it what it serves."""
    from ray import serve

    from synclr_ray.serving.app import APP_NAME, build_app

    cfg = load_config("tiny", [f"serve.encoder={root_or_version}", "serve.num_cpus=0.5", "serve.precision=fp32"])
    serve.run(build_app(cfg), name=APP_NAME, route_prefix="/")
    return httpx.get(f"http://127.0.0.1:{SERVE_PORT}/v1/model", timeout=60).json()


@pytest.mark.slow  # Serve deployments and exporter processes: ~1 min
def test_serve_only_ever_loads_a_complete_version_even_when_the_exporter_is_killed(
    ray_cluster, s3_endpoint, s3_bucket, tmp_path
):
    from ray import serve

    root = f"{s3_bucket}/run/export"
    first = _publish(root, seed=0, step=100, tmp_path=tmp_path)
    proxy = StallingProxy(s3_endpoint, re.compile(rb"POST \S*/_export\.json\?uploads "))
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
        exporter = subprocess.Popen([sys.executable, "-c", EXPORTER, root, "1", "200"], env=env)
        # pyarrow uploads every object as a multipart upload: the manifest's starts with POST ...?uploads.
        assert proxy.stalled.wait(300), "the exporter never reached its manifest"
        exporter.kill()  # mid-write: its weights and config are uploaded, its manifest never is
        assert exporter.wait() == -signal.SIGKILL
    finally:
        proxy.close()
    half = [uri for uri in storage.list_files(root) if "/step-00000200-" in uri]
    assert sorted(uri.rsplit("/", 1)[1] for uri in half) == ["config.json", "model.safetensors"]
    half_version = half[0].rsplit("/", 1)[0]

    serve.start(http_options={"host": "127.0.0.1", "port": SERVE_PORT})
    try:
        served = _deployed_model(root)
        assert served["digest"] == _weights_digest(first)
        with pytest.raises(exports.IncompleteExportError, match="incomplete export version"):
            _deployed_model(half_version)

        second = _publish(root, seed=1, step=200, tmp_path=tmp_path)  # the same export, run to completion
        assert second == half_version
        redeployed = _deployed_model(root)
        assert redeployed["digest"] == _weights_digest(second) != served["digest"]
    finally:
        serve.shutdown()
