"""The HTTP contract of ``POST /v1/embeddings``: schemas, and parsing JSON or multipart bodies into raw images.

Three bodies share the path: OpenAI's JSON (``input``, see `synclr_ray.serving.openai_api`),
and for existing clients the original JSON (``images``: base64) and multipart uploads.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from synclr_ray.config.serve import ServeConfig
from synclr_ray.device import Precision
from synclr_ray.serving import urls
from synclr_ray.serving.body import read_body
from synclr_ray.serving.decode import decode_base64
from synclr_ray.serving.openai_api import OpenAIEmbeddingRequest, ServedModel, check_model, split_inputs


class EmbeddingOptions(BaseModel):
    """How features are pooled and whether they are l2-normalised."""

    model_config = ConfigDict(extra="forbid")

    pool: Literal["cls", "mean"] = Field("cls", description="CLS token or mean of patch tokens.")
    normalize: bool = Field(True, description="L2-normalise each embedding.")


class EmbeddingRequest(EmbeddingOptions):
    """JSON body: base64-encoded JPEG/PNG/WebP images (a data-URI prefix is allowed)."""

    images: list[str] = Field(min_length=1)


class EmbeddingResponse(BaseModel):
    """Embeddings in request order (answer to an ``images`` body)."""

    model: str
    dim: int
    embeddings: list[list[float]]


class ModelInfo(BaseModel):
    """What the endpoint serves (never where the weights are stored)."""

    id: str = Field(description="Architecture and weights digest, e.g. vit_base_patch16_224@sha256:3f2a9c1b0d4e.")
    architecture: str
    image_size: int
    feature_dim: int
    digest: str
    precision: Precision = Field(description="What the forward pass computes in.")


def public_model_id(info: dict) -> str:
    """The served model's name for clients: its architecture and a short weights digest, not its storage URI."""
    return f"{info['architecture']}@{info['digest'][: len('sha256:') + 12]}"


# OpenAPI description of the body, which the handler parses itself to bound its size.
REQUEST_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"anyOf": [OpenAIEmbeddingRequest.model_json_schema(), EmbeddingRequest.model_json_schema()]}
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["images"],
                    "properties": {
                        "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "pool": {"type": "string", "enum": ["cls", "mean"], "default": "cls"},
                        "normalize": {"type": "boolean", "default": True},
                    },
                }
            },
        },
    }
}


@dataclass
class ParsedRequest:
    """A validated request: raw image bytes (not yet decoded), options, and the OpenAI body when it came as one."""

    images: list[bytes]
    pool: Literal["cls", "mean"]
    normalize: bool
    openai: OpenAIEmbeddingRequest | None = None

    @property
    def field(self) -> str:
        """The request field holding the images, for error messages."""
        return "images" if self.openai is None else "input"


async def parse_request(request: Request, cfg: ServeConfig, served: ServedModel) -> ParsedRequest:
    """Validate a JSON or multipart embedding request against the configured limits, fetching allowed URLs;
    4xx naming the field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "multipart/form-data"):
        raise HTTPException(
            415, f"content-type {content_type or '(none)'!r}: use application/json or multipart/form-data"
        )
    body = await read_body(request, cfg.max_body_bytes, cfg.request_timeout_s)
    if content_type == "application/json":
        # Parsing up to max_body_bytes of JSON and base64 takes a while: off the event loop, so batches keep forming.
        parsed, pending = await asyncio.to_thread(_parse_json, body, cfg, served)
        budget = cfg.max_body_bytes - len(body)  # fetched images count against the body limit, like uploads
        for index, url in pending.items():
            parsed.images[index] = await urls.fetch(url, f"input[{index}]", budget, cfg.url_timeout_s)
            budget -= len(parsed.images[index])
        return parsed
    return await _parse_multipart(request, body, cfg.max_images_per_request)


def _validation_error(exc: ValidationError) -> HTTPException:
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or "body"
    return HTTPException(422, f"{field}: {err['msg']}")


def _check_count(count: int, limit: int, field: str = "images") -> None:
    if count > limit:
        raise HTTPException(413, f"{field}: {count} images, at most {limit} per request")


def _parse_json(body: bytes, cfg: ServeConfig, served: ServedModel) -> tuple[ParsedRequest, dict[int, str]]:
    """The parsed body and, for an OpenAI body, the URLs still to fetch by input index."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise HTTPException(400, "body is not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # also integers longer than Python converts, and bad UTF-8
        raise HTTPException(400, f"body is not valid JSON ({exc})") from None
    if isinstance(data, dict) and "input" in data:
        return _parse_openai(data, cfg, served)
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        _check_count(len(data["images"]), cfg.max_images_per_request)  # before decoding any of them
    try:
        req = EmbeddingRequest.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    images = [decode_base64(text, f"images[{i}]") for i, text in enumerate(req.images)]
    return ParsedRequest(images=images, pool=req.pool, normalize=req.normalize), {}


def _parse_openai(data: dict, cfg: ServeConfig, served: ServedModel) -> tuple[ParsedRequest, dict[int, str]]:
    if isinstance(data["input"], str):  # OpenAI accepts one item on its own
        data = {**data, "input": [data["input"]]}
    if isinstance(data["input"], list):
        _check_count(len(data["input"]), cfg.max_images_per_request, "input")  # before decoding any of them
    try:
        req = OpenAIEmbeddingRequest.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    check_model(req, served)
    images, pending = split_inputs(req, cfg.url_allow_list)
    return ParsedRequest(images=images, pool=req.pool, normalize=req.normalize, openai=req), pending  # type: ignore[arg-type]


async def _parse_multipart(request: Request, body: bytes, max_images: int) -> ParsedRequest:
    async def replay() -> AsyncIterator[bytes]:
        yield body

    parser = MultiPartParser(request.headers, replay(), max_files=max_images, max_fields=8, max_part_size=1024)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if "Too many files" in exc.message:
            raise HTTPException(
                413, f"images: more than {max_images} files, at most {max_images} per request"
            ) from None
        raise HTTPException(400, f"multipart body: {exc.message}") from None
    try:
        uploads = form.getlist("images")
        if not uploads:
            raise HTTPException(422, "images: no file parts named 'images'")
        if any(not isinstance(item, UploadFile) for item in uploads):
            raise HTTPException(422, "images: every 'images' part must be a file upload")
        options = {key: form[key] for key in ("pool", "normalize") if key in form}
        extra = set(form.keys()) - {"images", "pool", "normalize"}
        if extra:
            raise HTTPException(422, f"{sorted(extra)[0]}: unknown form field")
        try:
            opts = EmbeddingOptions.model_validate(options)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        images = [await item.read() for item in uploads]
    finally:
        await form.close()
    return ParsedRequest(images=images, pool=opts.pool, normalize=opts.normalize)
