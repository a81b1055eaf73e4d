"""Bearer-token auth: the token comes from a file each replica reads (a mounted secret), never from the config.

With ``serve.auth`` none (allowed only on a loopback host) the endpoint still refuses clients
that are not on loopback, so a proxy bound elsewhere by its own config (``http_options.host``
of a Serve YAML) never serves the network without a token.
"""

import hmac
from pathlib import Path

from fastapi import HTTPException, Request

from synclr_ray.config.serve import ServeConfig, is_loopback

MIN_TOKEN_CHARS = 16


def load_token(cfg: ServeConfig) -> str | None:
    """The bearer token from ``serve.auth_token_file`` (None when ``serve.auth`` is none); clear error otherwise."""
    if cfg.auth == "none":
        return None
    path = Path(str(cfg.auth_token_file))
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise RuntimeError(f"serve.auth_token_file {path}: cannot read the token ({exc.strerror})") from None
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"serve.auth_token_file {path}: the token has fewer than {MIN_TOKEN_CHARS} characters")
    return token


def authorize(request: Request, token: str | None) -> None:
    """401 unless ``Authorization: Bearer <token>`` (constant-time compare); without a token, 403 off-loopback."""
    if token is None:
        client = request.client.host if request.client else ""
        if not is_loopback(client):
            raise HTTPException(403, "serve.auth is none, so only loopback clients are served")
        return
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
