"""``synclr serve`` starts the embedding endpoint; ``synclr embed`` is its small client."""

import json
import logging
import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from synclr_ray.cli.app import ConfigOption, SetOption, app, resolve_config

log = logging.getLogger(__name__)
TOKEN_ENV = "SYNCLR_SERVE_TOKEN"  # the client's copy of the token; servers read theirs from serve.auth_token_file


class Pool(str, Enum):
    """Feature pooling of ``synclr embed``."""

    cls = "cls"
    mean = "mean"


@app.command("serve")
def serve_encoder(
    encoder: Annotated[str, typer.Option(help="Export directory to serve (local or s3://), e.g. ROOT/export.")],
    port: Annotated[int | None, typer.Option(help="HTTP port (default: serve.port of the config).")] = None,
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """Serve the encoder over HTTP with Ray Serve until Ctrl-C (batching, scaling, limits, auth: serve.* config).

    Off loopback (serve.host) a bearer token is required: set serve.auth_token_file.
    """
    from ray import serve

    from serve.app import APP_NAME, build_app
    from synclr_ray.cluster import init_ray

    extra = [f"serve.encoder={encoder}", *([f"serve.port={port}"] if port is not None else [])]
    cfg = resolve_config(config, overrides, *extra)
    application = build_app(cfg)  # validates the encoder before anything starts
    init_ray(cfg.ray)
    scfg = cfg.serve
    serve.start(http_options={"host": scfg.host, "port": scfg.port, "request_timeout_s": scfg.request_timeout_s})
    log.info("serving %s at http://%s:%d (auth %s, docs at /docs)", scfg.encoder, scfg.host, scfg.port, scfg.auth)
    serve.run(application, name=APP_NAME, route_prefix="/", blocking=True)


@app.command("embed")
def embed_files(
    url: Annotated[str, typer.Option(help="Base URL of the endpoint, e.g. http://127.0.0.1:8000.")],
    files: Annotated[list[Path], typer.Argument(help="JPEG/PNG/WebP images.", exists=True, dir_okay=False)],
    out: Annotated[
        Path | None, typer.Option(help="Save the embeddings as an (N, D) float32 .npy instead of printing.")
    ] = None,
    pool: Annotated[Pool, typer.Option(help="CLS token or mean of patch tokens.")] = Pool.cls,
    normalize: Annotated[bool, typer.Option(help="L2-normalise the embeddings.")] = True,
    timeout: Annotated[float, typer.Option(help="Request timeout in seconds.")] = 60.0,
) -> None:
    """Embed image files with a running endpoint; prints one JSON line per file, or writes --out.

    Sends the bearer token from $SYNCLR_SERVE_TOKEN when it is set.
    """
    import httpx
    import numpy as np

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    token = os.environ.get(TOKEN_ENV)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    uploads = [("images", (path.name, path.read_bytes())) for path in files]
    data = {"pool": pool.value, "normalize": str(normalize).lower()}
    response = httpx.post(
        f"{url.rstrip('/')}/v1/embeddings", files=uploads, data=data, headers=headers, timeout=timeout
    )
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise RuntimeError(f"{url}: HTTP {response.status_code}: {detail}")
    embeddings = np.asarray(response.json()["embeddings"], dtype=np.float32)
    if out is not None:
        np.save(out, embeddings)
        print(f"wrote {out} {embeddings.shape}")
        return
    for path, row in zip(files, embeddings.tolist(), strict=True):
        print(json.dumps({"file": str(path), "embedding": row}))
