"""One writer per stage output: a lease in ``ROOT/_leases/<stage>.json`` held while a command writes.

The lease names its holder (user, host, pid, command) and carries a heartbeat that a
background thread renews every ``lease.heartbeat_s``. It is created exclusively and renewed
and released by compare-and-swap (`synclr_ray.leases.store`), so of two commands started on
one root exactly one writes and the other fails at once with the holder's name. A holder that
stops renewing for ``lease.stale_after_s`` (or whose process is gone from this host) is stale:
``--take-over-stale-lease`` takes its lease over. A holder that finds its lease taken (it was
silent too long) stops its own work with `LeaseLostError` rather than write beside the new one.
Wall clocks of the hosts involved are assumed to agree to well within ``stale_after_s`` (NTP).
"""

import functools
import getpass
import inspect
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from synclr_ray import storage
from synclr_ray.config import Config
from synclr_ray.config.lease import LeaseConfig
from synclr_ray.leases.store import ConditionalStore, conditional_store

log = logging.getLogger(__name__)

LEASES_DIR = "_leases"
TAKE_OVER_FLAG = "--take-over-stale-lease"


class LeaseHeldError(RuntimeError):
    """Another command holds the lease (or took a stale one over first); the message names it."""


class LeaseLostError(RuntimeError):
    """The lease was taken over while this command held it; its work was stopped."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, and when it last said it was alive."""

    lease_id: str
    user: str
    host: str
    pid: int
    command: str
    acquired_at: float
    heartbeat_at: float

    @classmethod
    def me(cls, now: float) -> "Holder":
        return cls(uuid.uuid4().hex, getpass.getuser(), socket.gethostname(), os.getpid(), _command(), now, now)

    @classmethod
    def parse(cls, data: bytes, uri: str) -> "Holder":
        try:
            return cls(**json.loads(data))
        except (ValueError, TypeError) as exc:
            raise LeaseHeldError(f"lease {uri} is unreadable ({exc}): remove it by hand if no command runs") from None

    def encode(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode("utf-8")

    def silent_for(self, now: float) -> float:
        return max(0.0, now - self.heartbeat_at)

    def is_dead_here(self) -> bool:
        """True if the holder ran on this host and its process is gone (a crash: no need to wait for staleness)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    def describe(self, now: float) -> str:
        beat = datetime.fromtimestamp(self.heartbeat_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            f"'{self.command}' run by {self.user} on {self.host} (pid {self.pid}), "
            f"last heartbeat {self.silent_for(now):.0f} s ago ({beat})"
        )


def _command() -> str:
    """``synclr images``, ``images.py images`` (a Ray job), ...: the program and its subcommand."""
    if not sys.argv or not sys.argv[0]:
        return "python"
    return " ".join([os.path.basename(sys.argv[0]), *(a for a in sys.argv[1:2] if not a.startswith("-"))])


def lease_uri(root: str, stage: str) -> str:
    """Where the lease on ``stage``'s output under run root ``root`` lives."""
    if not storage.is_remote(root):
        root = os.path.abspath(os.path.expanduser(root))
    return storage.join(root, LEASES_DIR, f"{stage}.json")


class StageLease:
    """Context manager: hold the lease on one stage's output under a run root while the block runs.

    ``take_over_stale`` takes over a lease whose holder is stale (silent for ``stale_after_s``, or
    its process gone from this host); a live holder is never displaced.
    """

    def __init__(self, root: str, stage: str, cfg: LeaseConfig, take_over_stale: bool = False) -> None:
        self.stage = stage
        self.cfg = cfg
        self.take_over_stale = take_over_stale
        self.store: ConditionalStore = conditional_store(lease_uri(root, stage))
        self.holder: Holder | None = None
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: str | None = None
        self._state = threading.Lock()  # orders "work finished" against "lease lost, interrupt the work"
        self._interrupt = False
        self._previous_sigterm: Any = None
        self._previous_sigint: Any = None

    def __enter__(self) -> "StageLease":
        self.acquire()
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease-{self.stage}", daemon=True)
        self._thread.start()
        if threading.current_thread() is threading.main_thread():
            self._interrupt = True
            # A plain SIGTERM (`ray job stop`, kill) would skip the release; as SystemExit it runs __exit__.
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
            # A lost lease interrupts the work with SIGINT: make sure it raises KeyboardInterrupt whatever
            # handler a library installed before (one that swallows SIGINT would let the work run on).
            self._previous_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        with self._state:
            self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
        if self._lost is not None:
            raise LeaseLostError(self._lost) from None
        self.release()

    def acquire(self) -> None:
        """Take the lease, or raise `LeaseHeldError` naming its holder."""
        for _ in range(3):  # the holder may release between our create and our read
            now = time.time()
            me = Holder.me(now)
            version = self.store.create(me.encode())
            if version is not None:
                self.holder, self._version = me, version
                return
            current = self.store.read()
            if current is None:
                continue
            holder = Holder.parse(current[0], self.store.uri)
            self._check_takeover(holder, now)
            version = self.store.replace(me.encode(), current[1])
            if version is None:
                continue  # someone else took it over, or it was released: look again
            log.warning("%s: took over the stale lease of %s", self.store.uri, holder.describe(now))
            self.holder, self._version = me, version
            return
        current = self.store.read()
        holder = Holder.parse(current[0], self.store.uri).describe(time.time()) if current else "another command"
        raise LeaseHeldError(f"{self.stage} output is being written by {holder} ({self.store.uri}); it won the race")

    def _check_takeover(self, holder: Holder, now: float) -> None:
        silent = holder.silent_for(now)
        dead = holder.is_dead_here()
        where = (
            f"the {self.stage} output of this run root is being written by {holder.describe(now)} ({self.store.uri})"
        )
        if silent < self.cfg.stale_after_s and not dead:
            raise LeaseHeldError(f"{where}: wait for it to finish, or use another --root")
        if not self.take_over_stale:
            why = (
                "its process is gone"
                if dead
                else f"silent for more than lease.stale_after_s={self.cfg.stale_after_s:g} s"
            )
            raise LeaseHeldError(
                f"{where}; the lease is stale ({why}): if that command is dead, rerun with {TAKE_OVER_FLAG}"
            )

    def release(self) -> None:
        """Give the lease up if it is still ours (an exit after losing it leaves the new holder's alone)."""
        if self._version is not None and not self.store.delete(self._version):
            log.warning("%s: the lease was no longer ours at release", self.store.uri)
        self._version = None

    def _heartbeat(self) -> None:
        last_renewal = time.time()
        while not self._stop.wait(self.cfg.heartbeat_s):
            now = time.time()
            assert self.holder is not None and self._version is not None
            renewed = replace(self.holder, heartbeat_at=now)
            try:
                version = self.store.replace(renewed.encode(), self._version)
            except Exception as exc:  # storage unreachable: keep trying until the lease would look stale
                log.warning("%s: lease renewal failed (%s)", self.store.uri, exc)
                if now - last_renewal < self.cfg.stale_after_s - self.cfg.heartbeat_s:
                    continue
                self._lose(f"could not renew the lease {self.store.uri} for {now - last_renewal:.0f} s ({exc})")
                return
            if version is None:
                self._lose(f"the lease {self.store.uri} was taken over by {self._current_holder(now)}")
                return
            self.holder, self._version, last_renewal = renewed, version, now

    def _current_holder(self, now: float) -> str:
        try:
            current = self.store.read()
            return Holder.parse(current[0], self.store.uri).describe(now) if current else "nobody (it was deleted)"
        except Exception as exc:  # the reason to stop stands without the taker's name
            return f"another command ({exc})"

    def _lose(self, reason: str) -> None:
        with self._state:
            if self._stop.is_set():  # the work already finished: nothing left to stop
                return
            self._lost = f"stopped writing the {self.stage} output: {reason}"
            self._version = None
            log.error("%s", self._lost)
            if self._interrupt:
                # The work runs in the main thread: a real SIGINT stops it even inside a blocking call;
                # __exit__ turns the KeyboardInterrupt into LeaseLostError.
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


F = TypeVar("F", bound=Callable[..., Any])


def holds_lease(stage: str) -> Callable[[F], F]:
    """Decorate a stage runner ``fn(cfg, root, ...)`` so it runs holding the lease on ``stage`` under ``root``.

    The runner gains the keyword ``take_over_stale_lease`` (default False; the commands' ``--take-over-stale-lease``).
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, take_over_stale_lease: bool = False, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            cfg: Config = bound.arguments["cfg"]
            with StageLease(bound.arguments["root"], stage, cfg.lease, take_over_stale_lease):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate
