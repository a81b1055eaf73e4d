"""The Ray Serve embedding endpoint: batching, scaling, overload shedding, request limits and auth."""

import ipaddress
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from synclr_ray.config.base import Section


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``: reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # any other host name may resolve off-loopback
        return False


def _default_auth(data: dict[str, Any]) -> str:
    return "required" if data["auth_token_file"] or not is_loopback(data["host"]) else "none"


class AutoscalingConfig(Section):
    """Serve's ``autoscaling_config``: replicas follow the number of ongoing requests."""

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    target_ongoing_requests: float = Field(32, gt=0, description="Ongoing requests per replica to aim for.")

    @model_validator(mode="after")
    def _check(self) -> "AutoscalingConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        return self


class ServeConfig(Section):
    """Batching, scaling, overload and request limits, and auth of the embedding endpoint."""

    encoder: str | None = Field(
        None, description="Export directory (local or s3://) to serve; `synclr serve --encoder`."
    )
    host: str = Field("127.0.0.1", description="Address the HTTP proxy binds (0.0.0.0 inside a pod).")
    port: int = Field(8000, ge=1, le=65535)
    max_batch_size: int = Field(32, ge=1, description="Images per forward pass across concurrent requests.")
    batch_wait_timeout_s: float = Field(0.01, ge=0, description="How long a partial batch waits for more images.")
    max_ongoing_requests: int = Field(64, ge=1, description="Requests one replica holds at once (>= max_batch_size).")
    max_queued_requests: int = Field(
        64, ge=1, description="Requests the proxy queues when every replica is full; more are shed with 503."
    )
    retry_after_s: float = Field(1.0, ge=0, description="Retry-After (seconds, rounded up) of a shed request's 503.")
    request_timeout_s: float = Field(
        60.0, gt=0, description="End-to-end limit at the proxy (408), and for receiving a body at the replica."
    )
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    num_cpus: float = Field(1.0, ge=0, description="Logical CPUs per replica.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per replica; the model runs on CUDA when > 0.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Compute precision of the forward pass; auto: fp16 on GPUs, bf16 on CPUs with native bf16, else fp32.",
    )
    torch_threads: int | None = Field(None, ge=1, description="Intra-op threads per replica (default: torch's own).")
    max_body_bytes: int = Field(32 * 2**20, ge=1024, description="Largest accepted request body.")
    max_images_per_request: int = Field(64, ge=1)
    max_image_side: int = Field(4096, ge=1, description="Longest accepted image side, in pixels (from the header).")
    max_aspect_ratio: float = Field(8.0, ge=1, description="Largest accepted long side : short side of an image.")
    max_image_pixels: int = Field(12_000_000, ge=1, description="Largest accepted image (width x height).")
    max_request_pixels: int = Field(
        64 * 2**20, ge=1, description="Pixel budget of a whole request (sum of width x height, from the headers)."
    )
    url_allow_list: list[str] = Field(
        default_factory=list,
        description="URL prefixes (scheme://host[:port][/path]) that OpenAI-style `input` items may name; the "
        "replica fetches them itself. Empty: URLs are refused.",
    )
    url_timeout_s: float = Field(10.0, gt=0, description="Time limit for fetching one `input` URL.")
    auth_token_file: str | None = Field(
        None, description="File holding the bearer token, read by each replica (a mounted secret), never logged."
    )
    auth: Literal["required", "none"] = Field(
        default_factory=_default_auth,
        description="Bearer-token auth of every route but /healthz. Default: required when a token file is set "
        "or `host` is not loopback. none is refused off-loopback, and even then serves loopback clients only.",
    )

    @field_validator("url_allow_list")
    @classmethod
    def _check_prefixes(cls, prefixes: list[str]) -> list[str]:
        for prefix in prefixes:
            parts = urlsplit(prefix)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query:
                raise ValueError(f"{prefix!r} is not an http(s)://host[:port][/path] prefix (no credentials or query)")
        return prefixes

    @model_validator(mode="after")
    def _check(self) -> "ServeConfig":
        if self.max_ongoing_requests < self.max_batch_size:
            raise ValueError(
                f"max_ongoing_requests ({self.max_ongoing_requests}) must be at least max_batch_size "
                f"({self.max_batch_size}), or batches never fill"
            )
        if self.precision == "fp16" and self.num_gpus == 0:
            raise ValueError("precision fp16 needs GPU replicas (num_gpus > 0); on CPUs use bf16, fp32 or auto")
        if self.max_request_pixels < self.max_image_pixels:
            raise ValueError(
                f"max_request_pixels ({self.max_request_pixels}) must be at least max_image_pixels "
                f"({self.max_image_pixels}), or the largest accepted image fits no request"
            )
        if self.auth == "none" and not is_loopback(self.host):
            raise ValueError(
                f"serve.auth none needs a loopback serve.host, not {self.host}: off loopback a bearer token "
                "is required (serve.auth_token_file)"
            )
        if self.auth == "required" and not self.auth_token_file:
            reason = "" if is_loopback(self.host) else f" (serve.host {self.host} is not loopback)"
            raise ValueError(
                f"serve.auth is required{reason} but serve.auth_token_file is not set: put the token in a file "
                "(a mounted Kubernetes Secret, or one written from your secret store) and name it there"
            )
        return self
