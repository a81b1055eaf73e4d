"""Single writer per stage output and run root: leases created and renewed with conditional writes."""

from synclr_ray.leases.lease import (
    TAKE_OVER_FLAG,
    Holder,
    LeaseHeldError,
    LeaseLostError,
    StageLease,
    holds_lease,
    lease_uri,
)

__all__ = ["TAKE_OVER_FLAG", "Holder", "LeaseHeldError", "LeaseLostError", "StageLease", "holds_lease", "lease_uri"]
