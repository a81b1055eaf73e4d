"""The OpenAI shape of the endpoint: ``POST /v1/embeddings`` with ``input``, ``GET /v1/models``, OpenAI errors.

Any OpenAI client works unchanged (``openai.OpenAI(base_url=URL + "/v1", api_key=TOKEN)``):
``input`` holds images as ``data:image/...;base64,`` URIs, or http(s) URLs under
``serve.url_allow_list``; ``encoding_format`` ``base64`` is the little-endian float32 bytes
of each vector, as OpenAI sends them. ``usage`` counts the encoder's input tokens: every image
is resized to the model's input size, so each costs the same patches plus class token.
``pool`` and ``normalize`` (defaults ``cls``, ``true``) are accepted as extra body fields.
"""

import base64
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from synclr_ray import exports
from synclr_ray.encoder import Encoder
from synclr_ray.serving import urls
from synclr_ray.serving.decode import decode_base64

OWNER = "synclr-ray"
DATA_URI_PREFIX = "data:image/"
ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


@dataclass(frozen=True)
class ServedModel:
    """What a replica serves, as clients see it."""

    id: str
    dim: int
    tokens_per_image: int
    created: int

    @classmethod
    def of(cls, encoder: Encoder, model_id: str) -> "ServedModel":
        """The served description of a loaded encoder; ``created`` is its export version's time (a plain
        export directory has none: then the time it was loaded)."""
        manifest = exports.read_manifest(encoder.info["id"])
        created = int(manifest["created"]) if manifest else int(time.time())
        tokens = encoder.model.patch_embed.num_patches + getattr(encoder.model, "num_prefix_tokens", 1)
        return cls(id=model_id, dim=encoder.info["feature_dim"], tokens_per_image=int(tokens), created=created)

    def card(self) -> dict:
        """The model object of ``GET /v1/models``."""
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": OWNER}


class OpenAIEmbeddingRequest(BaseModel):
    """JSON body in OpenAI's shape: images as data URIs or allow-listed URLs."""

    model_config = ConfigDict(extra="forbid")

    input: list[str] = Field(
        min_length=1, description="Images: `data:image/...;base64,...` URIs or http(s) URLs under serve.url_allow_list."
    )
    model: str = Field(description="The id from GET /v1/models.")
    encoding_format: Literal["float", "base64"] = Field("float", description="base64: little-endian float32 bytes.")
    dimensions: int | None = Field(None, description="Must equal the model's dimension when given (no truncation).")
    user: str | None = Field(None, description="Accepted for compatibility; not used.")
    pool: Literal["cls", "mean"] = Field("cls", description="CLS token or mean of patch tokens.")
    normalize: bool = Field(True, description="L2-normalise each embedding.")


class EmbeddingObject(BaseModel):
    """One embedding of an OpenAI-shaped answer."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32.")


class Usage(BaseModel):
    """Encoder input tokens: (patches + class token) per image."""

    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingResponse(BaseModel):
    """Answer to an ``input`` body, in request order."""

    object: Literal["list"] = "list"
    data: list[EmbeddingObject]
    model: str
    usage: Usage


def check_model(req: OpenAIEmbeddingRequest, served: ServedModel) -> None:
    """404 for another model's id, 422 for ``dimensions`` other than the model's."""
    if req.model != served.id:
        raise HTTPException(404, f"model: {req.model!r} is not served here; GET /v1/models lists {served.id!r}")
    if req.dimensions is not None and req.dimensions != served.dim:
        raise HTTPException(
            422, f"dimensions: {req.dimensions} is not supported; this model's embeddings have {served.dim}"
        )


def split_inputs(req: OpenAIEmbeddingRequest, allow_list: list[str]) -> tuple[list[bytes | None], dict[int, str]]:
    """Decoded data URIs in input order (None where a URL stands) and the allowed URLs by index; 4xx otherwise."""
    images: list[bytes | None] = []
    pending: dict[int, str] = {}
    for index, item in enumerate(req.input):
        field = f"input[{index}]"
        if urls.is_url(item):
            urls.check_allowed(item, field, allow_list)
            pending[index] = item
            images.append(None)
        elif item[: len(DATA_URI_PREFIX)].lower() == DATA_URI_PREFIX:
            images.append(decode_base64(item, field))
        else:
            raise HTTPException(422, f"{field}: expected a data:image/...;base64, URI or an http(s) URL")
    return images, pending


def embeddings_body(feats: np.ndarray, req: OpenAIEmbeddingRequest, served: ServedModel) -> dict:
    """OpenAI's ``CreateEmbeddingResponse`` for the rows of ``feats`` (float32, request order)."""

    def encode(row: np.ndarray) -> list[float] | str:
        if req.encoding_format == "base64":
            return base64.b64encode(row.astype("<f4").tobytes()).decode()
        return row.tolist()

    tokens = served.tokens_per_image * len(feats)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(row)} for i, row in enumerate(feats)],
        "model": served.id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _param(detail: str) -> str | None:
    """The request field an error message starts with (``input[2]: ...``), OpenAI's ``param``."""
    head, sep, _ = detail.partition(": ")
    return head if sep and " " not in head else None


def install_error_handler(api: FastAPI) -> None:
    """Errors as OpenAI clients parse them (``error.message``/``type``/``param``), keeping FastAPI's ``detail``."""

    @api.exception_handler(StarletteHTTPException)
    async def _openai_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        kind = ERROR_TYPES.get(exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error")
        error = {"message": detail, "type": kind, "param": _param(detail), "code": None}
        return JSONResponse({"detail": exc.detail, "error": error}, status_code=exc.status_code, headers=exc.headers)
