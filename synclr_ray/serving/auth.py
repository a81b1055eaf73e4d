"""Optional bearer-token auth: the token comes from an environment variable or a secret file."""

import hmac
import os
from pathlib import Path

from fastapi import HTTPException

from synclr_ray.config.serve import ServeConfig


def load_token(cfg: ServeConfig) -> str | None:
    """The configured token (secret file first, then the environment variable); None turns auth off."""
    if cfg.auth_token_file:
        path = Path(cfg.auth_token_file)
        if not path.is_file():
            raise FileNotFoundError(f"serve.auth_token_file {path} does not exist")
        token = path.read_text().strip()
        if not token:
            raise ValueError(f"serve.auth_token_file {path} is empty")
        return token
    return os.environ.get(cfg.auth_token_env) or None


def check_bearer(authorization: str | None, token: str | None) -> None:
    """Raise 401 unless ``authorization`` is ``Bearer <token>`` (constant-time compare); no-op without a token."""
    if token is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
