"""The exported encoder behind a FastAPI ingress on Ray Serve, with dynamic batching across requests.

``serve run serve/config.yaml`` and ``synclr serve --encoder URI`` both start it: ``app`` is the
application builder that the config's ``import_path`` names, ``build_app`` the one the CLI calls.
Routes: ``POST /v1/embeddings`` (JSON or multipart), ``GET /v1/model``, ``GET /healthz``, ``/docs``.
"""

import asyncio

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from ray import serve
from ray.serve import Application
from ray.serve.metrics import Histogram

from synclr_ray import exports, storage
from synclr_ray.config import Config, ConfigError, load_config
from synclr_ray.config.serve import ServeConfig
from synclr_ray.encoder import WEIGHTS_FILE, load_encoder
from synclr_ray.serving.api import REQUEST_BODY_DOC, EmbeddingResponse, ModelInfo, parse_request
from synclr_ray.serving.auth import check_bearer, load_token
from synclr_ray.serving.decode import decode_image

APP_NAME = "synclr-embeddings"
BATCH_SIZE_HEADER = "X-Batch-Size"

api = FastAPI(
    title="synclr-ray embeddings",
    description="Image embeddings from a SynCLR-trained ViT. Send `Authorization: Bearer <token>` when auth is on.",
    version="1",
)


@serve.deployment
@serve.ingress(api)
class EmbeddingServer:
    """One replica: the encoder, request validation, and a batch queue shared by all requests."""

    def __init__(self, encoder_uri: str, cfg: ServeConfig) -> None:
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.cfg = cfg
        self.token = load_token(cfg)
        self.encoder = load_encoder(encoder_uri, "cuda" if cfg.num_gpus > 0 else "cpu", cfg.precision)
        self._embed_image.set_max_batch_size(cfg.max_batch_size)
        self._embed_image.set_batch_wait_timeout_s(cfg.batch_wait_timeout_s)
        self.batch_sizes = Histogram(
            "synclr_serve_batch_size",
            description="Images per forward pass of the embedding endpoint.",
            boundaries=[1, 2, 4, 8, 16, 32, 64, 128],
        )

    @api.get("/healthz")
    async def healthz(self) -> dict[str, str]:
        """Readiness: the replica is up and its model is loaded."""
        return {"status": "ok"}

    @api.get("/v1/model", response_model=ModelInfo)
    async def model(self, request: Request) -> dict:
        """Model id, architecture, input size, feature dimension, checkpoint digest and compute precision."""
        check_bearer(request.headers.get("authorization"), self.token)
        return {key: self.encoder.info[key] for key in ModelInfo.model_fields}

    @api.post("/v1/embeddings", response_model=EmbeddingResponse, openapi_extra=REQUEST_BODY_DOC)
    async def embeddings(self, request: Request) -> JSONResponse:
        """Embeddings of the request's images, in request order (header X-Batch-Size: largest batch used)."""
        check_bearer(request.headers.get("authorization"), self.token)
        parsed = await parse_request(request, self.cfg)
        # Decoding is CPU work: off the event loop, so batches keep forming meanwhile.
        pixels = await asyncio.to_thread(self._preprocess, parsed.images)
        results = await asyncio.gather(*(self._embed_image((image, parsed.pool)) for image in pixels))
        feats = torch.stack([row for row, _ in results])
        if parsed.normalize:
            feats = torch.nn.functional.normalize(feats, dim=-1)
        body = {"model": self.encoder.info["id"], "dim": int(feats.shape[1]), "embeddings": feats.tolist()}
        return JSONResponse(body, headers={BATCH_SIZE_HEADER: str(max(size for _, size in results))})

    def _preprocess(self, images: list[bytes]) -> torch.Tensor:
        limit = self.cfg.max_image_pixels
        return self.encoder.preprocess([decode_image(data, limit, f"images[{i}]") for i, data in enumerate(images)])

    @serve.batch
    async def _embed_image(self, items: list[tuple[torch.Tensor, str]]) -> list[tuple[torch.Tensor, int]]:
        self.batch_sizes.observe(len(items))
        return await asyncio.to_thread(self._forward, items)

    def _forward(self, items: list[tuple[torch.Tensor, str]]) -> list[tuple[torch.Tensor, int]]:
        out: list[tuple[torch.Tensor, int]] = [None] * len(items)  # type: ignore[list-item]
        for pool in {pool for _, pool in items}:
            index = [i for i, (_, p) in enumerate(items) if p == pool]
            feats = self.encoder.features(torch.stack([items[i][0] for i in index]), pool).cpu()
            for i, row in zip(index, feats, strict=True):
                out[i] = (row, len(items))
        return out


def build_app(cfg: Config) -> Application:
    """The Serve application for ``cfg.serve`` (encoder URI, batching, scaling, limits)."""
    scfg = cfg.serve
    if not scfg.encoder:
        raise ConfigError("config field 'serve.encoder' is not set: pass --encoder URI (or args.encoder)")
    # ROOT/export -> its latest complete version, resolved once: every replica loads that same version.
    uri = exports.resolve(scfg.encoder)
    if not storage.exists(storage.join(uri, WEIGHTS_FILE)):
        raise FileNotFoundError(f"serve.encoder {scfg.encoder}: no {WEIGHTS_FILE} there (expected an export directory)")
    return EmbeddingServer.options(
        max_ongoing_requests=scfg.max_ongoing_requests,
        autoscaling_config=scfg.autoscaling.model_dump(),
        ray_actor_options={"num_cpus": scfg.num_cpus, "num_gpus": scfg.num_gpus},
    ).bind(uri, scfg)


class AppArgs(BaseModel):
    """The ``args:`` of an application in serve/config.yaml."""

    model_config = ConfigDict(extra="forbid")

    config: str = "tiny"
    overrides: list[str] = []
    encoder: str | None = None


def app(args: AppArgs) -> Application:
    """Application builder for ``import_path: serve.app:app``: a preset or YAML, overrides, the encoder."""
    extra = [f"serve.encoder={args.encoder}"] if args.encoder else []
    return build_app(load_config(args.config, [*args.overrides, *extra]))
