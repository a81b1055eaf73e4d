"""Auth: the token is read from a file with clear errors; requests are checked before anything else runs."""

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from synclr_ray.config import load_config
from synclr_ray.serving.auth import MIN_TOKEN_CHARS, authorize, load_token

TOKEN = "t0ken-" + "x" * MIN_TOKEN_CHARS


def request(client: str, authorization: str | None = None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (client, 50000)})


def test_token_comes_from_the_file_without_its_newline(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    cfg = load_config("tiny", [f"serve.auth_token_file={path}"]).serve
    assert cfg.auth == "required" and load_token(cfg) == TOKEN
    assert load_token(load_config("tiny").serve) is None  # loopback default: auth none


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read the token"), ("short\n", "fewer than 16")])
def test_a_missing_or_weak_token_stops_the_replica_with_the_file_named(tmp_path, content, message):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    cfg = load_config("tiny", [f"serve.auth_token_file={path}"]).serve
    with pytest.raises((RuntimeError, ValueError), match=f"serve.auth_token_file {path}: .*{message}"):
        load_token(cfg)


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer wrong-token-of-some-length", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
def test_requests_without_the_bearer_token_get_401(authorization):
    with pytest.raises(HTTPException) as err:
        authorize(request("127.0.0.1", authorization), TOKEN)
    assert err.value.status_code == 401 and err.value.headers == {"WWW-Authenticate": "Bearer"}


def test_the_bearer_token_is_accepted_from_anywhere():
    authorize(request("203.0.113.9", f"Bearer {TOKEN}"), TOKEN)
    authorize(request("203.0.113.9", f"bearer  {TOKEN} "), TOKEN)


def test_without_auth_only_loopback_clients_are_served():
    """A proxy bound off-loopback by its own config (a Serve YAML's http_options) still serves nobody else."""
    for client in ("127.0.0.1", "127.8.0.1", "::1"):
        authorize(request(client), None)
    for client in ("10.0.0.5", "192.168.1.20", "2001:db8::1", ""):
        with pytest.raises(HTTPException) as err:
            authorize(request(client), None)
        assert err.value.status_code == 403 and "serve.auth is none" in err.value.detail
