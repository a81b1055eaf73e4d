"""``synclr embed`` against the running endpoint, and ``synclr serve`` refusing a bad encoder before starting."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from synclr_ray.cli import app


@pytest.fixture
def image_files(tmp_path):
    paths = []
    for i, color in enumerate(["red", "navy", "olive"]):
        path = tmp_path / f"{i}.jpg"
        Image.new("RGB", (36, 30), color).save(path)
        paths.append(path)
    return paths


def test_embed_saves_npy_and_prints_json_lines(server, image_files, tmp_path, monkeypatch):
    out = tmp_path / "emb.npy"
    result = CliRunner().invoke(app, ["embed", "--url", server.url, *map(str, image_files), "--out", str(out)])
    assert result.exit_code == 0, result.output
    expected = server.encoder.embed([Image.open(p) for p in image_files], normalize=True)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-4)

    monkeypatch.setenv("SYNCLR_SERVE_TOKEN", server.token)
    result = CliRunner().invoke(app, ["embed", "--url", server.secure_url, str(image_files[0]), "--pool", "mean"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.splitlines()[0])
    assert line["file"] == str(image_files[0]) and len(line["embedding"]) == 64


def test_embed_reports_http_errors(server, image_files, monkeypatch):
    monkeypatch.delenv("SYNCLR_SERVE_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["embed", "--url", server.secure_url, str(image_files[0])])
    assert result.exit_code != 0
    assert "HTTP 401" in str(result.exception)


def test_serve_refuses_a_directory_without_an_export(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--encoder", str(tmp_path)])
    assert isinstance(result.exception, FileNotFoundError)
    assert "model.safetensors" in str(result.exception)


def test_serve_off_loopback_without_a_token_fails_before_starting(export_dir):
    """As a user types it: one line naming the missing setting, and no Ray cluster started."""
    synclr = str(Path(sys.executable).parent / "synclr")
    cmd = [synclr, "serve", "--encoder", export_dir, "--set", "serve.host=0.0.0.0"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert "serve.host 0.0.0.0 is not loopback) but serve.auth_token_file is not set" in line


def test_embed_splits_requests_and_passes_urls(server, image_files, tmp_path):
    """Six images through an endpoint taking at most 4 per request, one of them by an allow-listed URL."""
    (server.files_dir / "allowed" / "cli.jpg").write_bytes(image_files[0].read_bytes())
    files = [*map(str, image_files), *map(str, image_files[:2]), f"{server.files_url}/allowed/cli.jpg"]
    out = tmp_path / "emb.npy"
    result = CliRunner().invoke(app, ["embed", "--url", server.url, *files, "--batch-size", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    embeddings = np.load(out)
    assert embeddings.shape == (6, 64)
    np.testing.assert_allclose(embeddings[[3, 4, 5]], embeddings[[0, 1, 0]], atol=1e-5)

    result = CliRunner().invoke(app, ["embed", "--url", server.url, str(image_files[0]), "--model", "other"])
    assert "HTTP 404" in str(result.exception) and "is not served here" in str(result.exception)
