"""One rank's training batches: shuffled per epoch, decoded and augmented a few batches ahead in Ray tasks.

A sample's augmentation is a pure function of ``(seed, epoch, row id)`` (seeded by
`synclr_ray.seeds.derive`) and the row order is a pure function of ``(seed, epoch)``,
so a run resumed at batch ``k`` of an epoch sees exactly the batches the uninterrupted run would
have, and the ``k`` skipped batches are never decoded.
"""

from collections import deque
from collections.abc import Callable, Iterator

import numpy as np
import ray
import torch
from ray.data import DataIterator

from synclr_ray import seeds
from synclr_ray.config.downstream import DownstreamTrainConfig

Augment = Callable[[dict[str, np.ndarray], int, int], dict[str, np.ndarray]]


def _run(augment: Augment, rows: dict[str, np.ndarray], seed: int, epoch: int) -> dict[str, np.ndarray]:
    return augment(rows, seed, epoch)


_augment_task = ray.remote(_run)


class AugmentedBatches:
    """``(epoch, index in epoch, batch)`` of one rank, epoch after epoch, each batch a dict of tensors."""

    def __init__(self, shard: DataIterator, augment: Augment, cfg: DownstreamTrainConfig, seed: int) -> None:
        self.shard = shard
        self.augment = augment
        self.cfg = cfg
        self.seed = seed
        self.per_rank = cfg.batch_size // cfg.num_workers
        self._task = _augment_task.options(num_cpus=1)

    def stream(self, epoch: int = 0, skip: int = 0) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
        """From batch ``skip`` of ``epoch`` on, without end; augmentation runs ahead across epoch boundaries."""
        pending: deque[tuple[int, int, list[ray.ObjectRef]]] = deque()
        while True:
            rows = self.shard.iter_batches(
                batch_size=self.per_rank,
                batch_format="numpy",
                drop_last=True,
                local_shuffle_buffer_size=self.cfg.shuffle_buffer,
                local_shuffle_seed=seeds.shuffle_seed(self.seed, epoch),
            )
            count = 0
            for index, batch in enumerate(rows):
                count += 1
                if index < skip:
                    continue
                pending.append((epoch, index, self._submit(batch, epoch)))
                if len(pending) > self.cfg.prefetch_batches:
                    done_epoch, done_index, refs = pending.popleft()
                    yield done_epoch, done_index, _collect(refs)
            if not count:
                raise ValueError(
                    f"the training split yields no batch: each rank needs at least {self.per_rank} images "
                    "(batch_size / num_workers)"
                )
            epoch, skip = epoch + 1, 0

    def _submit(self, batch: dict[str, np.ndarray], epoch: int) -> list[ray.ObjectRef]:
        size = len(next(iter(batch.values())))
        chunk = -(-size // self.cfg.loader_tasks)
        return [
            self._task.remote(self.augment, {k: v[i : i + chunk] for k, v in batch.items()}, self.seed, epoch)
            for i in range(0, size, chunk)
        ]


def _collect(refs: list[ray.ObjectRef]) -> dict[str, torch.Tensor]:
    parts = ray.get(refs)
    return {key: torch.from_numpy(np.concatenate([part[key] for part in parts])) for key in parts[0]}
