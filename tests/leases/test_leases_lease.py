import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from synclr_ray.config import ConfigError, load_config
from synclr_ray.config.lease import LeaseConfig
from synclr_ray.leases import Holder, LeaseHeldError, LeaseLostError, StageLease, holds_lease, lease_uri
from synclr_ray.leases.store import conditional_store

FAST = LeaseConfig(heartbeat_s=0.05, stale_after_s=1.0)


@pytest.fixture(params=["local", "s3", "gs", "abfs"])
def root(request, tmp_path, bucket_of):
    if request.param == "local":
        return str(tmp_path / "run")
    return f"{bucket_of(request.param)}/run"


def _holder(root: str, stage: str = "images") -> dict:
    data = conditional_store(lease_uri(root, stage)).read()
    return json.loads(data[0]) if data else {}


def _plant(root: str, **fields) -> None:
    """A lease left by another command (on another host unless said otherwise)."""
    now = time.time()
    record = {"lease_id": "x", "user": "alice", "host": "gpu-node-7", "pid": 4242, "command": "synclr images",
              "acquired_at": now, "heartbeat_at": now, **fields}  # fmt: skip
    assert conditional_store(lease_uri(root, "images")).create(json.dumps(record).encode()) is not None


def _take_over(store, **fields) -> None:
    """Replace the holder's record as another command would, retrying when a heartbeat renews it in between."""
    for _ in range(100):
        content, version = store.read()
        if store.replace(json.dumps({**json.loads(content), **fields}).encode(), version) is not None:
            return
    raise AssertionError("the lease could not be replaced: the holder renewed it before every try")


def test_second_writer_fails_naming_the_holder_and_release_frees_the_lease(root):
    with StageLease(root, "images", FAST):
        held = _holder(root)
        assert (held["host"], held["pid"]) == (socket.gethostname(), os.getpid())
        with pytest.raises(LeaseHeldError) as err, StageLease(root, "images", FAST):
            pass
        message = str(err.value)
        assert f"on {socket.gethostname()} (pid {os.getpid()})" in message and "last heartbeat" in message
        assert "_leases/images.json" in message
        with StageLease(root, "captions", FAST):  # another stage's lease is independent
            pass
    assert _holder(root) == {}
    with StageLease(root, "images", FAST):  # free again
        pass


def test_heartbeat_renews_the_lease(root):
    with StageLease(root, "images", FAST):
        first = _holder(root)
        time.sleep(0.5)
        later = _holder(root)
    assert later["lease_id"] == first["lease_id"] and later["heartbeat_at"] > first["heartbeat_at"]


def test_a_live_lease_is_never_taken_over(root):
    _plant(root)
    with pytest.raises(LeaseHeldError, match=r"'synclr images' run by alice on gpu-node-7 \(pid 4242\).*wait for it"):
        StageLease(root, "images", FAST, take_over_stale=True).acquire()
    assert _holder(root)["host"] == "gpu-node-7"


def test_a_stale_lease_is_taken_over_only_when_asked(root):
    _plant(root, heartbeat_at=time.time() - 60)
    with pytest.raises(
        LeaseHeldError, match=r"stale \(silent for more than lease.stale_after_s=1 s\).*--take-over-stale-lease"
    ):
        StageLease(root, "images", FAST).acquire()
    with StageLease(root, "images", FAST, take_over_stale=True):
        assert _holder(root)["pid"] == os.getpid()
    assert _holder(root) == {}


def test_a_holder_whose_process_is_gone_from_this_host_is_stale_at_once(root):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _plant(root, host=socket.gethostname(), pid=int(dead.stdout))
    with pytest.raises(LeaseHeldError, match="its process is gone"):
        StageLease(root, "images", FAST).acquire()
    with StageLease(root, "images", FAST, take_over_stale=True):
        assert _holder(root)["pid"] == os.getpid()


def test_a_holder_whose_lease_was_taken_stops_with_the_takers_name(root):
    store = conditional_store(lease_uri(root, "images"))
    started = time.monotonic()
    with pytest.raises(LeaseLostError, match=r"images.json was taken over by '.*' run by bob on other-host"):
        with StageLease(root, "images", FAST):
            _take_over(store, user="bob", host="other-host", heartbeat_at=time.time())
            time.sleep(30)  # interrupted by the heartbeat that finds the lease gone
    assert time.monotonic() - started < 10
    assert _holder(root)["user"] == "bob"  # the taker's lease is left alone


def test_a_lost_lease_stops_the_work_even_under_a_sigint_handler_that_swallows_it(tmp_path):
    root = str(tmp_path)
    store = conditional_store(lease_uri(root, "images"))
    previous = signal.signal(
        signal.SIGINT, lambda signum, frame: None
    )  # a handler that swallows, as some libraries install
    try:
        started = time.monotonic()
        with pytest.raises(LeaseLostError, match="taken over"):
            with StageLease(root, "images", FAST):
                _take_over(store, user="bob")
                time.sleep(30)
        assert time.monotonic() - started < 10
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # the handler is restored
    finally:
        signal.signal(signal.SIGINT, previous)


def test_holds_lease_wraps_a_stage_runner(tmp_path):
    cfg = load_config("tiny")
    seen = []

    @holds_lease("images")
    def run(cfg, root, extra=1):
        seen.append(Holder(**_holder(root)).pid)
        with pytest.raises(LeaseHeldError):
            run(cfg, root)
        return extra

    assert run(cfg, str(tmp_path), extra=2, take_over_stale_lease=False) == 2
    assert seen == [os.getpid()] and _holder(str(tmp_path)) == {}


def test_stale_timeout_must_cover_missed_heartbeats():
    with pytest.raises(ConfigError, match="lease.*stale_after_s"):
        load_config("tiny", ["lease.heartbeat_s=60", "lease.stale_after_s=90"])
