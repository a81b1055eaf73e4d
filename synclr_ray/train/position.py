"""Where a generation stream stands for a data-parallel run: the position a resumed stream restarts at.

A stream's rows reach each rank in stream order (their ``(epoch, index)`` keys increase along each
rank's share), and ranks move through their shares at their own pace. At a checkpoint the ranks
agree on ``next``: the smallest key past the last row some rank trained. Every row before it was
trained (or never made it out of post-processing), so a resumed stream starts there; ``trained``
lists the rows at or after it that a faster rank already trained, which the resumed stream leaves
out. With one rank ``trained`` is always empty.
"""

from collections.abc import Sequence
from typing import Any

import torch.distributed as dist

from synclr_ray.rows import Key


def _gather(value: Any) -> list[Any]:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


class StreamPosition:
    """One rank's record of the stream rows it trained since the last agreed position."""

    def __init__(self, restored: dict[str, Any] | None) -> None:
        self.last: Key | None = None
        # Rows trained before the crash at or after the restored position are still ahead of the stream.
        self.recent: set[Key] = {tuple(k) for k in restored["trained"]} if restored else set()

    def trained(self, keys: Sequence[Key]) -> None:
        """Record one trained batch."""
        self.last = max(keys) if self.last is None else max(self.last, *keys)
        self.recent.update(keys)

    def agree(self) -> dict[str, Any]:
        """The position every rank agrees on (a collective: every rank calls it at the same step)."""
        lasts = [last for last in _gather(self.last) if last is not None]
        epoch, index = min(lasts)
        following = (epoch, index + 1)  # position p + 1 even when index + 1 wraps a caption cycle
        self.recent = {key for key in self.recent if key >= following}
        trained = set().union(*_gather(self.recent))
        return {"next": list(following), "trained": sorted(list(key) for key in trained)}
