"""The lease section: a holder must get several chances to renew before it counts as stale."""

import pytest

from synclr_ray.config import ConfigError, load_config


def test_stale_after_must_cover_three_heartbeats():
    assert load_config("tiny", ["lease.heartbeat_s=10", "lease.stale_after_s=30"]).lease.stale_after_s == 30
    with pytest.raises(ConfigError, match=r"stale_after_s \(29.0\) must be at least 3 x heartbeat_s \(10.0\)"):
        load_config("tiny", ["lease.heartbeat_s=10", "lease.stale_after_s=29"])
    with pytest.raises(ConfigError, match="lease.heartbeat_s"):
        load_config("tiny", ["lease.heartbeat_s=0"])
