"""The Ray Serve embedding endpoint."""

from typing import Literal

from pydantic import Field, model_validator

from synclr_ray.config.base import Section


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
    """Batching, scaling and request limits of the embedding endpoint."""

    encoder: str | None = Field(
        None, description="Export directory (local or s3://) to serve; `synclr serve --encoder`."
    )
    host: str = Field("127.0.0.1", description="Address the HTTP proxy binds (0.0.0.0 inside a pod).")
    port: int = Field(8000, ge=1, le=65535)
    max_batch_size: int = Field(32, ge=1, description="Images per forward pass across concurrent requests.")
    batch_wait_timeout_s: float = Field(0.01, ge=0, description="How long a partial batch waits for more images.")
    max_ongoing_requests: int = Field(64, ge=1, description="Requests one replica holds at once (>= max_batch_size).")
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    num_cpus: float = Field(1.0, ge=0, description="Logical CPUs per replica.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per replica; the model runs on CUDA when > 0.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Compute precision of the forward pass; auto: fp16 on GPUs, bf16 on CPUs with native bf16, else fp32.",
    )
    torch_threads: int | None = Field(None, ge=1, description="Intra-op threads per replica (default: torch's own).")
    max_images_per_request: int = Field(64, ge=1)
    max_body_bytes: int = Field(32 * 2**20, ge=1024, description="Largest accepted request body.")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="Largest decoded image (width x height).")
    auth_token_env: str = Field(
        "SYNCLR_SERVE_TOKEN", description="Environment variable holding the bearer token; auth is on when it is set."
    )
    auth_token_file: str | None = Field(None, description="File holding the bearer token (e.g. a mounted secret).")

    @model_validator(mode="after")
    def _check(self) -> "ServeConfig":
        if self.max_ongoing_requests < self.max_batch_size:
            raise ValueError(
                f"max_ongoing_requests ({self.max_ongoing_requests}) must be at least max_batch_size "
                f"({self.max_batch_size}), or batches never fill"
            )
        if self.precision == "fp16" and self.num_gpus == 0:
            raise ValueError("precision fp16 needs GPU replicas (num_gpus > 0); on CPUs use bf16, fp32 or auto")
        return self
