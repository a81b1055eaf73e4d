"""``synclr embed`` against the running endpoint, and ``synclr serve`` refusing a bad encoder before starting."""

import json

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def image_files(tmp_path):
    paths = []
    for i, color in enumerate(["red", "navy", "olive"]):
        path = tmp_path / f"{i}.jpg"
        Image.new("RGB", (36, 30), color).save(path)
        paths.append(path)
    return paths


def test_embed_saves_npy_and_prints_json_lines(synclr, server, image_files, tmp_path, monkeypatch):
    out = tmp_path / "emb.npy"
    ran = synclr("embed", "--url", server.url, *map(str, image_files), "--out", str(out))
    assert ran.code == 0, ran.err
    expected = server.encoder.embed([Image.open(p) for p in image_files], normalize=True)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-4)

    monkeypatch.setenv("SYNCLR_SERVE_TOKEN", server.token)
    ran = synclr("embed", "--url", server.secure_url, str(image_files[0]), "--pool", "mean")
    assert ran.code == 0, ran.err
    line = json.loads(ran.out.splitlines()[0])
    assert line["file"] == str(image_files[0]) and len(line["embedding"]) == 64


def test_embed_reports_http_errors(synclr, server, image_files, monkeypatch):
    monkeypatch.delenv("SYNCLR_SERVE_TOKEN", raising=False)
    ran = synclr("embed", "--url", server.secure_url, str(image_files[0]))
    assert ran.code == 1 and ran.err.startswith("error: ") and "HTTP 401" in ran.err


def test_embed_splits_requests_and_passes_urls(synclr, server, image_files, tmp_path):
    """Six images through an endpoint taking at most 4 per request, one of them by an allow-listed URL."""
    (server.files_dir / "allowed" / "cli.jpg").write_bytes(image_files[0].read_bytes())
    files = [*map(str, image_files), *map(str, image_files[:2]), f"{server.files_url}/allowed/cli.jpg"]
    out = tmp_path / "emb.npy"
    ran = synclr("embed", "--url", server.url, *files, "--batch-size", "4", "--out", str(out))
    assert ran.code == 0, ran.err
    embeddings = np.load(out)
    assert embeddings.shape == (6, 64)
    np.testing.assert_allclose(embeddings[[3, 4, 5]], embeddings[[0, 1, 0]], atol=1e-5)

    ran = synclr("embed", "--url", server.url, str(image_files[0]), "--model", "other")
    assert ran.code == 1 and "HTTP 404" in ran.err and "is not served here" in ran.err


def test_serve_refuses_a_directory_without_an_export(synclr, tmp_path):
    ran = synclr("serve", "--encoder", str(tmp_path))
    assert ran.code == 1 and ran.err.startswith("error: ") and "model.safetensors" in ran.err


def test_serve_off_loopback_without_a_token_fails_before_starting(synclr_process, export_dir):
    """In its own process, so that nothing can have started Ray: one line naming the missing setting."""
    ran = synclr_process("serve", "--encoder", export_dir, "--set", "serve.host=0.0.0.0")
    assert ran.code == 1
    (line,) = ran.err.splitlines()
    assert "serve.host 0.0.0.0 is not loopback) but serve.auth_token_file is not set" in line
