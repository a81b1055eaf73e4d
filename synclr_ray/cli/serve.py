"""``synclr serve`` starts the embedding endpoint; ``synclr embed`` is its small client."""

import base64
import json
import logging
import mimetypes
import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from synclr_ray.cli.app import ConfigOption, SetOption, app, resolve_config
from synclr_ray.cli.eval import EncoderOption

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)
TOKEN_ENV = "SYNCLR_SERVE_TOKEN"  # the client's copy of the token; servers read theirs from serve.auth_token_file


class Pool(str, Enum):
    """Feature pooling of ``synclr embed``."""

    cls = "cls"
    mean = "mean"


@app.command("serve")
def serve_encoder(
    encoder: EncoderOption,
    port: Annotated[int | None, typer.Option(help="HTTP port (default: serve.port of the config).")] = None,
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """Serve the encoder over HTTP with Ray Serve until Ctrl-C (batching, scaling, limits, auth: serve.* config).

    Off loopback (serve.host) a bearer token is required: set serve.auth_token_file.
    """
    from ray import serve

    from synclr_ray.cli.app import join_ray_for
    from synclr_ray.serving.app import APP_NAME, build_app

    extra = [f"serve.encoder={encoder}", *([f"serve.port={port}"] if port is not None else [])]
    cfg = resolve_config(config, overrides, *extra)
    application = build_app(cfg)  # validates the encoder before anything starts
    join_ray_for(cfg)
    scfg = cfg.serve
    serve.start(http_options={"host": scfg.host, "port": scfg.port, "request_timeout_s": scfg.request_timeout_s})
    log.info("serving %s at http://%s:%d (auth %s, docs at /docs)", scfg.encoder, scfg.host, scfg.port, scfg.auth)
    serve.run(application, name=APP_NAME, route_prefix="/", blocking=True)


@app.command("embed")
def embed_files(
    url: Annotated[str, typer.Option(help="Base URL of the endpoint, e.g. http://127.0.0.1:8000.")],
    files: Annotated[
        list[str],
        typer.Argument(help="JPEG/PNG/WebP files, or http(s) URLs the endpoint may fetch (serve.url_allow_list)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Save the embeddings as an (N, D) float32 .npy instead of printing."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model id (default: the one GET /v1/models lists).")] = None,
    pool: Annotated[Pool, typer.Option(help="CLS token or mean of patch tokens.")] = Pool.cls,
    normalize: Annotated[bool, typer.Option(help="L2-normalise the embeddings.")] = True,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Images per request (at most the endpoint's serve.max_images_per_request).")
    ] = 16,
    timeout: Annotated[float, typer.Option(help="Request timeout in seconds.")] = 60.0,
) -> None:
    """Embed images with a running endpoint through its OpenAI-compatible API; prints one JSON line per image,
    or writes --out.

    Sends the bearer token from $SYNCLR_SERVE_TOKEN when it is set.
    """
    import httpx
    import numpy as np

    from synclr_ray.serving.urls import is_url

    for item in files:
        if not is_url(item) and not Path(item).is_file():
            raise typer.BadParameter(f"{item}: no such file (and not an http(s) URL)", param_hint="FILES")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    token = os.environ.get(TOKEN_ENV)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    rows: list[np.ndarray] = []
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout) as client:
        model = model or _served_model(client, url)
        for start in range(0, len(files), batch_size):
            body = {
                "model": model,
                "input": [
                    item if is_url(item) else _data_uri(Path(item)) for item in files[start : start + batch_size]
                ],
                "encoding_format": "base64",
                "pool": pool.value,
                "normalize": normalize,
            }
            data = sorted(_ok(client.post("/v1/embeddings", json=body), url)["data"], key=lambda row: row["index"])
            rows += [np.frombuffer(base64.b64decode(row["embedding"]), dtype="<f4") for row in data]
    embeddings = np.stack(rows)
    if out is not None:
        np.save(out, embeddings)
        print(f"wrote {out} {embeddings.shape}")
        return
    for item, row in zip(files, embeddings.tolist(), strict=True):
        print(json.dumps({"file": item, "embedding": row}))


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or ""
    # The endpoint reads the format from the bytes; the declared type only has to be an image one.
    return f"data:{mime if mime.startswith('image/') else 'image/jpeg'};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _ok(response: "httpx.Response", url: str) -> dict:
    """The JSON of a 200 answer, else RuntimeError with the endpoint's message."""
    if response.status_code == 200:
        return response.json()
    try:
        body = response.json()
        detail = body["error"]["message"] if isinstance(body.get("error"), dict) else body.get("detail", response.text)
    except ValueError:
        detail = response.text
    raise RuntimeError(f"{url}: HTTP {response.status_code}: {detail}")


def _served_model(client: "httpx.Client", url: str) -> str:
    return _ok(client.get("/v1/models"), url)["data"][0]["id"]
