"""Single writer per stage output: the lease every writing command holds on its run root."""

from pydantic import Field, model_validator

from synclr_ray.config.base import Section


class LeaseConfig(Section):
    """How often a holder renews its lease, and when a silent holder counts as dead."""

    heartbeat_s: float = Field(30.0, gt=0, description="Seconds between renewals of a held lease.")
    stale_after_s: float = Field(
        300.0,
        gt=0,
        description="A lease not renewed for this long is stale: --take-over-stale-lease may take it over.",
    )

    @model_validator(mode="after")
    def _check(self) -> "LeaseConfig":
        if self.stale_after_s < 3 * self.heartbeat_s:
            raise ValueError(
                f"stale_after_s ({self.stale_after_s}) must be at least 3 x heartbeat_s ({self.heartbeat_s}), "
                "or a live holder that misses one renewal looks dead"
            )
        return self
