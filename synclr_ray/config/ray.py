"""Where Ray runs and how work is placed on it."""

from pydantic import Field

from synclr_ray.config.base import Section


class PoolConfig(Section):
    """An autoscaling Ray Data actor pool: ``ActorPoolStrategy(min_size, max_size)``."""

    min_size: int = Field(1, ge=1)
    max_size: int = Field(1, ge=1)


class RayConfig(Section):
    """Connection and placement. ``address`` or ``RAY_ADDRESS`` joins a cluster; else a local one starts."""

    address: str | None = None
    num_cpus: int | None = Field(
        None, ge=1, description="Logical CPUs of a local cluster (above the core count on small machines)."
    )
    progress_bars: bool = True
    dashboard: bool = Field(
        True, description="Start the Ray dashboard (on 127.0.0.1) with a local cluster; its URL is logged."
    )
    generation_label: str | None = Field(
        None, description="Value of the `ray-subcluster` node label that generation stages run on."
    )
    training_label: str | None = Field(
        None, description="Value of the `ray-subcluster` node label that trainers run on."
    )
