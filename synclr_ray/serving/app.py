"""The exported encoder behind a FastAPI ingress on Ray Serve, with dynamic batching across requests.

``serve run serve/config.yaml`` and ``synclr serve --encoder URI`` both start it: ``app`` is the
application builder that the config's ``import_path`` names, ``build_app`` the one the CLI calls.
Routes: ``POST /v1/embeddings`` (OpenAI's JSON, the original JSON, or multipart), ``GET /v1/models``
(OpenAI's list), ``GET /v1/model``, ``GET /healthz``, ``/docs``.
Every route but ``/healthz`` follows ``serve.auth``.
"""

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict
from ray import serve
from ray.serve import Application
from ray.serve.config import BackpressureConfig
from ray.serve.metrics import Histogram

from synclr_ray import exports, storage
from synclr_ray.config import Config, ConfigError, load_config
from synclr_ray.config.serve import ServeConfig
from synclr_ray.device import resolve
from synclr_ray.encoder import WEIGHTS_FILE, load_encoder
from synclr_ray.serving.api import (
    REQUEST_BODY_DOC,
    EmbeddingResponse,
    ModelInfo,
    parse_request,
    public_model_id,
)
from synclr_ray.serving.auth import authorize, load_token
from synclr_ray.serving.decode import decode_rgb, open_image
from synclr_ray.serving.health import check_forward
from synclr_ray.serving.limits import ImageLimits
from synclr_ray.serving.openai_api import (
    OpenAIEmbeddingResponse,
    ServedModel,
    embeddings_body,
    install_error_handler,
)

APP_NAME = "synclr-embeddings"
BATCH_SIZE_HEADER = "X-Batch-Size"

# The docs routes are the replica's own, behind the same auth as the API.
api = FastAPI(
    title="synclr-ray embeddings",
    description="Image embeddings from a SynCLR-trained ViT. Send `Authorization: Bearer <token>` when auth is on.",
    version="1",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)
install_error_handler(api)


@serve.deployment
@serve.ingress(api)
class EmbeddingServer:
    """One replica: the encoder, request validation, and a batch queue shared by all requests."""

    def __init__(self, encoder_uri: str, cfg: ServeConfig) -> None:
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.cfg = cfg
        self.limits = ImageLimits.from_config(cfg)
        self.token = load_token(cfg)
        self.encoder = load_encoder(encoder_uri, str(resolve(gpus=cfg.num_gpus).device), cfg.precision)
        check_forward(self.encoder)  # a broken model never becomes ready
        self.health_error: str | None = None
        self.model_id = public_model_id(self.encoder.info)
        self.served = ServedModel.of(self.encoder, self.model_id)
        # Each request decodes one image at a time on these few threads, so decoded pixels in
        # memory stay below threads x serve.max_image_pixels however many requests are open.
        self.decoder = ThreadPoolExecutor(max(1, math.ceil(cfg.num_cpus)), thread_name_prefix="decode")
        self._embed_image.set_max_batch_size(cfg.max_batch_size)
        self._embed_image.set_batch_wait_timeout_s(cfg.batch_wait_timeout_s)
        self.batch_sizes = Histogram(
            "synclr_serve_batch_size",
            description="Images per forward pass of the embedding endpoint.",
            boundaries=[1, 2, 4, 8, 16, 32, 64, 128],
        )

    async def check_health(self) -> None:
        """Serve's periodic health check: a tiny forward pass with finite output, else the replica is restarted."""
        try:
            await asyncio.to_thread(check_forward, self.encoder)
        except Exception as exc:
            self.health_error = str(exc)
            raise
        self.health_error = None

    @api.get("/healthz")
    async def healthz(self) -> JSONResponse:
        """The last health check's verdict: 200, or 503 with the reason (probes need no token)."""
        if self.health_error:
            return JSONResponse({"status": "unhealthy", "detail": self.health_error}, status_code=503)
        return JSONResponse({"status": "ok"})

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi(self, request: Request) -> JSONResponse:
        """The OpenAPI schema."""
        authorize(request, self.token)
        return JSONResponse(request.app.openapi())

    @api.get("/docs", include_in_schema=False)
    async def docs(self, request: Request) -> HTMLResponse:
        """Swagger UI over the OpenAPI schema."""
        authorize(request, self.token)
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=api.title)

    @api.get("/v1/model", response_model=ModelInfo)
    async def model(self, request: Request) -> dict:
        """Model id, architecture, input size, feature dimension, checkpoint digest and compute precision."""
        authorize(request, self.token)
        return {**{key: self.encoder.info[key] for key in ModelInfo.model_fields}, "id": self.model_id}

    @api.get("/v1/models")
    async def models(self, request: Request) -> dict:
        """OpenAI's model list: the one model this endpoint serves."""
        authorize(request, self.token)
        return {"object": "list", "data": [self.served.card()]}

    @api.get("/v1/models/{model_id:path}")
    async def model_by_id(self, model_id: str, request: Request) -> dict:
        """OpenAI's model object, or 404 for another id."""
        authorize(request, self.token)
        if model_id != self.served.id:
            raise HTTPException(404, f"model: {model_id!r} is not served here; GET /v1/models lists {self.served.id!r}")
        return self.served.card()

    @api.post(
        "/v1/embeddings", response_model=EmbeddingResponse | OpenAIEmbeddingResponse, openapi_extra=REQUEST_BODY_DOC
    )
    async def embeddings(self, request: Request) -> JSONResponse:
        """Embeddings of the request's images, in request order (header X-Batch-Size: largest batch used)."""
        authorize(request, self.token)
        parsed = await parse_request(request, self.cfg, self.served)
        loop = asyncio.get_running_loop()
        # Decoding is CPU work: off the event loop, so batches keep forming meanwhile.
        images = await loop.run_in_executor(self.decoder, self._open_checked, parsed.images, parsed.field)
        pixels = [
            await loop.run_in_executor(self.decoder, self._preprocess, image, f"{parsed.field}[{i}]")
            for i, image in enumerate(images)
        ]
        results = await asyncio.gather(*(self._embed_image((image, parsed.pool)) for image in pixels))
        feats = torch.stack([row for row, _ in results])
        if parsed.normalize:
            feats = torch.nn.functional.normalize(feats, dim=-1)
        if parsed.openai is not None:
            body = embeddings_body(feats.numpy(), parsed.openai, self.served)
        else:
            body = {"model": self.model_id, "dim": int(feats.shape[1]), "embeddings": feats.tolist()}
        return JSONResponse(body, headers={BATCH_SIZE_HEADER: str(max(size for _, size in results))})

    def _open_checked(self, images: list[bytes], name: str) -> list[Image.Image]:
        opened = [open_image(data, f"{name}[{i}]") for i, data in enumerate(images)]
        self.limits.check([image.size for image in opened], name)
        return opened

    def _preprocess(self, image: Image.Image, field: str) -> torch.Tensor:
        try:
            return self.encoder.preprocess([decode_rgb(image, field)])[0]
        finally:
            image.close()  # frees the decoded pixels before the next image is decoded

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
    """The Serve application for ``cfg.serve`` (encoder URI, batching, scaling, overload, limits, auth)."""
    scfg = cfg.serve
    if not scfg.encoder:
        raise ConfigError("config field 'serve.encoder' is not set: pass --encoder URI (or args.encoder)")
    # ROOT/export -> its latest complete version, resolved once: every replica loads that same version.
    uri = exports.resolve(scfg.encoder)
    if not storage.exists(storage.join(uri, WEIGHTS_FILE)):
        raise FileNotFoundError(f"serve.encoder {scfg.encoder}: no {WEIGHTS_FILE} there (expected an export directory)")
    return EmbeddingServer.options(
        max_ongoing_requests=scfg.max_ongoing_requests,
        max_queued_requests=scfg.max_queued_requests,
        backpressure_config=BackpressureConfig(status_code=503, retry_after_s=scfg.retry_after_s),
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
    """Application builder for ``import_path: synclr_ray.serving.app:app``: a preset or YAML, overrides, the encoder."""
    extra = [f"serve.encoder={args.encoder}"] if args.encoder else []
    return build_app(load_config(args.config, [*args.overrides, *extra]))
