"""Secrets from AWS Secrets Manager (moto's server) and GCP Secret Manager (a fake on 127.0.0.1) into files."""

import base64
import json
import stat
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from synclr_ray.secrets import main, read_secret, write_secret

VALUE = "tok-" + uuid.uuid4().hex


@pytest.fixture
def aws_secret(s3_endpoint: str) -> str:
    name = f"synclr/test-{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager", endpoint_url=s3_endpoint).create_secret(Name=name, SecretString=VALUE + "\n")
    return name


def test_aws_secret_is_written_to_a_private_file(aws_secret, tmp_path, capsys):
    path = tmp_path / "ray" / "auth_token"
    assert main([f"aws:{aws_secret}", str(path)]) == 0
    assert path.read_text() == VALUE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert VALUE not in capsys.readouterr().out
    assert [p.name for p in path.parent.iterdir()] == ["auth_token"]  # no temporary file left behind


def test_a_missing_secret_fails_in_one_line_naming_it(s3_endpoint, tmp_path, capsys):
    path = tmp_path / "auth_token"
    assert main(["aws:synclr/does-not-exist", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "secret aws:synclr/does-not-exist" in err
    assert not path.exists()


def test_references_must_name_a_store():
    with pytest.raises(ValueError, match="expected aws:NAME"):
        read_secret("vault:synclr/token")


class FakeGcp(BaseHTTPRequestHandler):
    """The metadata server and Secret Manager's ``:access`` call, as a VM sees them."""

    secrets = {
        "projects/proj-7/secrets/synclr-serve-token/versions/latest": VALUE,
        "projects/proj-7/secrets/empty/versions/latest": "",
    }

    def do_GET(self) -> None:
        metadata = self.headers.get("Metadata-Flavor") == "Google"
        if self.path == "/computeMetadata/v1/project/project-id" and metadata:
            return self._send(200, b"proj-7")
        if self.path == "/computeMetadata/v1/instance/service-accounts/default/token" and metadata:
            return self._send(200, json.dumps({"access_token": "ya29.fake", "expires_in": 3599}).encode())
        name = self.path.removeprefix("/v1/").removesuffix(":access")
        if self.headers.get("Authorization") != "Bearer ya29.fake":
            return self._send(403, b"{}")
        if name not in self.secrets:
            return self._send(404, b"{}")
        payload = {"name": name, "payload": {"data": base64.b64encode(self.secrets[name].encode()).decode()}}
        return self._send(200, json.dumps(payload).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def gcp(monkeypatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGcp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    yield f"http://{host}/v1"
    server.shutdown()


def test_gcp_secret_of_the_vms_project(gcp, tmp_path):
    path = write_secret("gcp:synclr-serve-token", tmp_path / "serve-token", gcp_api=gcp)
    assert path.read_text() == VALUE and stat.S_IMODE(path.stat().st_mode) == 0o600
    full = "gcp:projects/proj-7/secrets/synclr-serve-token/versions/latest"
    assert read_secret(full, gcp_api=gcp) == VALUE


def test_gcp_errors_name_the_secret_and_never_write(gcp, tmp_path):
    with pytest.raises(RuntimeError, match="HTTP 404"):
        write_secret("gcp:projects/proj-7/secrets/other", tmp_path / "a", gcp_api=gcp)
    with pytest.raises(ValueError, match="secret gcp:empty is empty"):
        write_secret("gcp:empty", tmp_path / "b", gcp_api=gcp)
    assert not list(tmp_path.iterdir())
