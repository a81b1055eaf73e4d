"""Training ingest: image rows -> caption-grouped batches of multi-crops, prepared ahead of compute.

Rows reach each rank through Ray Data (``streaming_split`` of any dataset of image rows, so a
lazily generated stream works as well as stored Parquet). A rank takes ``captions_per_rank``
rows at a time, so a caption's images never straddle ranks or batches, and every rank gets the
same number of batches. Decoding and multi-crop run in Ray tasks (other processes, other cores,
other nodes if the cluster has them), a few batches ahead of the training step.

Crops are a pure function of ``(seed, epoch, caption_id, image index)``: a resumed run sees
exactly the crops the uninterrupted run would have, and skipping the batches already trained
on costs no decoding. With an ``EpochClock`` (stored rows, ``train/order.py``), each rank posts
the epoch before every pass, and the pass reads the rows in that epoch's order.

An image that cannot be decoded (truncated, corrupt) is a bad record: it is replaced by another
image of its caption, cropped with its own seed (one more view of that caption), and reported
with the batch; a caption with no decodable image takes the crops and label of another caption
of the batch. Batch shapes never change, so every rank keeps the same collective calls.
"""

import io
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray
import torch
from PIL import Image
from ray.actor import ActorHandle
from ray.data import DataIterator

from synclr_ray import seeds
from synclr_ray.config.train import TrainConfig
from synclr_ray.encoder import IMAGENET_MEAN, IMAGENET_STD
from synclr_ray.rows import TRAINING_COLUMNS, Key, row_keys
from synclr_ray.train.multicrop import MultiCrop


@dataclass
class CropBatch:
    """One rank's batch, image-major: image ``b`` is image ``b % k`` of caption ``b // k``."""

    global_crops: torch.Tensor  # [C*k, 3, G, G]
    local_crops: torch.Tensor | None  # [C*k*n, 3, L, L]: the n local crops of image b at b*n .. b*n+n-1
    labels: torch.Tensor  # [C*k] int64: caption index in the global batch, unique across ranks
    caption_ids: list[str]
    keys: list[Key] = field(default_factory=list)  # the rows' (epoch, index): their place in a generation stream
    bad_records: list[tuple[str, int, str]] = field(default_factory=list)  # (caption_id, image index, reason)

    @property
    def num_images(self) -> int:
        return int(self.global_crops.shape[0])


def _decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")  # decodes every pixel: a truncated file fails here, not in a crop


def crop_rows(
    caption_ids: list[Any], images: list[list[bytes]], cfg: TrainConfig, seed: int, epoch: int
) -> tuple[np.ndarray, np.ndarray | None, list[tuple[str, int, str]]]:
    """Decode and multi-crop the images of some captions: ``(global [m,3,G,G], locals [m,n,3,L,L] | None, bad)``.

    ``bad`` lists the images that could not be decoded (caption_id, index, reason); each was replaced
    by another image of its caption, or, if its caption has none, by zeros for `CaptionBatches` to replace.
    Crops leave as float16: half the bytes through the object store, ample precision for
    normalised pixels; the training step casts them back.
    """
    multicrop = MultiCrop(cfg.crops, IMAGENET_MEAN, IMAGENET_STD)
    globals_, locals_, bad = [], [], []
    zeros = (torch.zeros(3, cfg.crops.global_size, cfg.crops.global_size),
             torch.zeros(cfg.crops.num_local, 3, cfg.crops.local_size, cfg.crops.local_size))  # fmt: skip
    for caption_id, encoded in zip(caption_ids, images, strict=True):
        decoded: list[Image.Image | None] = []
        for index, data in enumerate(encoded):
            try:
                decoded.append(_decode(data))
            except Exception as exc:  # any decoder failure makes a bad record, not a failed run
                decoded.append(None)
                bad.append((str(caption_id), index, f"{type(exc).__name__}: {exc}"))
        usable = [image for image in decoded if image is not None]
        for index, image in enumerate(decoded):
            torch.manual_seed(seeds.derive(seed, epoch, caption_id, index))
            source = image if image is not None else usable[index % len(usable)] if usable else None
            global_crop, local_crops = multicrop(source) if source is not None else zeros
            globals_.append(global_crop.to(torch.float16))
            locals_.append(local_crops.to(torch.float16))
    local_out = torch.stack(locals_).numpy() if cfg.crops.num_local else None
    return torch.stack(globals_).numpy(), local_out, bad


_crop_task = ray.remote(num_returns=3)(crop_rows)


class CaptionBatches:
    """One rank's caption-grouped batches, epoch by epoch, cropped ahead in Ray tasks."""

    def __init__(
        self,
        shard: DataIterator,
        cfg: TrainConfig,
        seed: int,
        rank: int,
        passes: int | None = None,
        epoch_clock: ActorHandle | None = None,
    ) -> None:
        self.shard = shard
        self.passes = passes  # a generation stream is read once; stored rows pass after pass
        self.epoch_clock = epoch_clock
        self.cfg = cfg
        self.seed = seed
        self.captions_per_rank = cfg.batch_captions // cfg.num_workers
        self.label_offset = rank * self.captions_per_rank
        self._task = _crop_task.options(num_cpus=1)

    def stream(self, epoch: int = 0, skip: int = 0) -> Iterator[tuple[int, int, CropBatch]]:
        """``(epoch, index in epoch, batch)`` from batch ``skip`` of ``epoch`` on, epoch after epoch, until ``passes``.

        Skipped batches (already trained on) are never decoded; cropping runs ahead across epoch boundaries.
        """
        pending: deque[tuple[int, int, tuple]] = deque()
        while self.passes is None or epoch < self.passes:
            if self.epoch_clock is not None:
                ray.get(self.epoch_clock.set.remote(epoch))
            rows = self.shard.iter_batches(
                batch_size=self.captions_per_rank, batch_format="pyarrow", drop_last=True, prefetch_batches=1
            )
            count = 0
            for index, table in enumerate(rows):
                count += 1
                if index < skip:
                    continue
                pending.append((epoch, index, self._submit(table, epoch)))
                if len(pending) > self.cfg.prefetch_batches:
                    done_epoch, done_index, job = pending.popleft()
                    yield done_epoch, done_index, self._collect(*job)
            if not count:
                raise ValueError(
                    f"the training data yields no batch: each rank needs at least {self.captions_per_rank} captions "
                    "(train.batch_captions / train.num_workers)"
                )
            epoch, skip = epoch + 1, 0
        for done_epoch, done_index, job in pending:
            yield done_epoch, done_index, self._collect(*job)

    def _submit(self, table: Any, epoch: int) -> tuple[list[Any], list[int], list[Key], list[tuple]]:
        missing = [name for name in TRAINING_COLUMNS if name not in table.column_names]
        if missing:
            raise ValueError(
                f"training rows lack column(s) {', '.join(missing)} (have {', '.join(table.column_names)})"
            )
        caption_ids = table.column("caption_id").to_pylist()
        images = table.column("images").to_pylist()
        chunk = -(-len(caption_ids) // self.cfg.loader_tasks)
        refs = [
            self._task.remote(caption_ids[i : i + chunk], images[i : i + chunk], self.cfg, self.seed, epoch)
            for i in range(0, len(caption_ids), chunk)
        ]
        return caption_ids, [len(encoded) for encoded in images], row_keys(table), refs

    def _collect(
        self, caption_ids: list[Any], counts: list[int], keys: list[Key], refs: list[tuple[ray.ObjectRef, ...]]
    ) -> CropBatch:
        parts = [ray.get(list(triple)) for triple in refs]
        global_crops = torch.from_numpy(np.concatenate([g for g, _, _ in parts]))
        labels = torch.arange(len(caption_ids)).repeat_interleave(torch.tensor(counts)) + self.label_offset
        local_crops = None
        if self.cfg.crops.num_local:
            local_crops = torch.from_numpy(np.concatenate([local for _, local, _ in parts])).flatten(0, 1)
        bad = [record for _, _, part in parts for record in part]
        if bad:
            self._replace_empty_captions(caption_ids, counts, bad, global_crops, local_crops, labels)
        return CropBatch(global_crops, local_crops, labels, [str(c) for c in caption_ids], keys, bad)

    def _replace_empty_captions(
        self,
        caption_ids: list[Any],
        counts: list[int],
        bad: list[tuple[str, int, str]],
        global_crops: torch.Tensor,
        local_crops: torch.Tensor | None,
        labels: torch.Tensor,
    ) -> None:
        """In place: a caption none of whose images decoded takes the crops and label of a caption that has crops."""
        bad_per_caption = Counter(caption_id for caption_id, _, _ in bad)
        empty = [bad_per_caption[str(c)] == n for c, n in zip(caption_ids, counts, strict=True)]
        if not any(empty):
            return
        if all(empty):
            raise ValueError(f"no image of any caption in a batch could be decoded, e.g. {bad[0][0]}: {bad[0][2]}")
        starts = np.concatenate([[0], np.cumsum(counts)])
        donors = [i for i, is_empty in enumerate(empty) if not is_empty]
        per_image = self.cfg.crops.num_local
        for i in (i for i, is_empty in enumerate(empty) if is_empty):
            donor = donors[i % len(donors)]
            for k in range(counts[i]):
                target, source = starts[i] + k, starts[donor] + k % counts[donor]
                global_crops[target] = global_crops[source]
                labels[target] = labels[source]
                if local_crops is not None:
                    local_crops[target * per_image : (target + 1) * per_image] = local_crops[
                        source * per_image : (source + 1) * per_image
                    ]
