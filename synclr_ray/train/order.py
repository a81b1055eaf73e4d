"""The order of stored image rows in each epoch: a new seeded shuffle every epoch, the same on resume.

Why the shuffle happens here. ``TorchTrainer`` splits one Dataset across the ranks for the whole
run and re-executes its plan every epoch, so a plan with a fixed order repeats the same batches
and negatives each epoch. Ray Data has no per-epoch seed for such a dataset: its reseeding
(``RandomSeedConfig(reseed_after_execution=True)``) counts the executions of the split
coordinator, which a resumed run or a restarted worker group creates afresh, so a resumed
epoch would not see the order the straight run saw. Only the training ranks know the epoch.
Before each pass over its shard, every rank posts the epoch on a small actor (``EpochClock``);
the read plan, which Ray Data builds when a pass starts (once every rank has reached the
split's epoch barrier), then orders the rows for that epoch:

1. the row groups of the Parquet files in a permutation seeded by (seed, epoch);
2. consecutive row groups in windows of at least ``train.shuffle_window`` rows, each window one
   read task that permutes its rows by (seed, epoch, window): a shuffle buffer placed upstream
   of the split, so every rank's batch is drawn from the whole window and a global batch from
   the ranks' windows together. A global ``random_shuffle`` is an all-to-all exchange with a
   barrier (every image crosses the object store twice more, and no batch starts before the
   whole epoch is read); this costs nothing beyond the read.

A caption's images are one row, so they stay together. Every row is read once per epoch, and
``streaming_split(equal=True)`` plus ``drop_last`` leave out fewer than one batch per rank. The
order is a pure function of (seed, epoch): a resumed run reads its epoch in the same order and
skips the batches it already trained on. Streamed rows (``synclr pipeline``) need none of this:
each epoch is generated afresh.
"""

import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
import ray
from ray.actor import ActorHandle
from ray.data import DataContext, Dataset
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from synclr_ray import seeds, storage

_FOOTER_THREADS = 16  # footers are small reads: on object stores their latency, not bandwidth, adds up


@ray.remote(num_cpus=0)
class EpochClock:
    """The epoch the training ranks are about to read, posted by each of them before every pass."""

    def __init__(self) -> None:
        self.epoch = 0

    def set(self, epoch: int) -> None:
        self.epoch = epoch

    def get(self) -> int:
        return self.epoch


@dataclass(frozen=True)
class RowGroup:
    """One Parquet row group: the unit the epoch order permutes."""

    uri: str
    index: int
    num_rows: int
    num_bytes: int


def row_groups(uris: Sequence[str]) -> list[RowGroup]:
    """Every row group of the Parquet files ``uris`` (local or s3://), read from their footers."""

    def groups_of(uri: str) -> list[RowGroup]:
        filesystem, path = storage.filesystem(uri)
        meta = pq.read_metadata(path, filesystem=filesystem)
        return [RowGroup(uri, i, meta.row_group(i).num_rows, meta.row_group(i).total_byte_size)
                for i in range(meta.num_row_groups)]  # fmt: skip

    with ThreadPoolExecutor(_FOOTER_THREADS) as pool:
        return [group for groups in pool.map(groups_of, uris) for group in groups if group.num_rows]


def epoch_windows(groups: Sequence[RowGroup], seed: int, epoch: int, window_rows: int) -> list[list[RowGroup]]:
    """The row groups of ``epoch`` in their seeded order, cut into consecutive windows of >= ``window_rows`` rows.

    Only the last window may hold fewer rows.
    """
    windows: list[list[RowGroup]] = [[]]
    rows = 0
    for index in seeds.generator(seed, epoch).permutation(len(groups)):
        if rows >= window_rows:
            windows.append([])
            rows = 0
        windows[-1].append(groups[index])
        rows += groups[index].num_rows
    return windows if windows[0] else []


def read_window(window: Sequence[RowGroup], columns: Sequence[str], seed: int, epoch: int, index: int) -> pa.Table:
    """The rows of one window, permuted by (seed, epoch, window index)."""
    tables = []
    for group in window:
        filesystem, path = storage.filesystem(group.uri)
        with filesystem.open_input_file(path) as handle:
            tables.append(pq.ParquetFile(handle).read_row_group(group.index, columns=list(columns)))
    table = pa.concat_tables(tables)
    return table.take(seeds.generator(seed, epoch, index).permutation(table.num_rows))


class ShuffledParquet(Datasource):
    """Parquet rows in the order of ``epoch_windows`` for the epoch posted on ``clock`` when a pass starts."""

    def __init__(
        self, groups: list[RowGroup], columns: Sequence[str], seed: int, window_rows: int, clock: ActorHandle
    ) -> None:
        super().__init__()
        self.groups = groups
        self.columns = tuple(columns)
        self.seed = seed
        self.window_rows = window_rows
        self.clock = clock

    def estimate_inmemory_data_size(self) -> int:
        return sum(group.num_bytes for group in self.groups)

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: DataContext | None = None
    ) -> list[ReadTask]:
        """One read task per window of this epoch (``parallelism`` is ignored: windows set the task size)."""
        epoch = ray.get(self.clock.get.remote())
        tasks = []
        for index, window in enumerate(epoch_windows(self.groups, self.seed, epoch, self.window_rows)):
            read = functools.partial(read_window, window, self.columns, self.seed, epoch, index)
            metadata = BlockMetadata(
                num_rows=sum(group.num_rows for group in window),
                size_bytes=sum(group.num_bytes for group in window),
                input_files=sorted({group.uri for group in window}),
                exec_stats=None,
            )
            tasks.append(ReadTask(lambda read=read: [read()], metadata, per_task_row_limit=per_task_row_limit))
        return tasks


def shuffled_rows(
    uris: Sequence[str], columns: Sequence[str], seed: int, window_rows: int
) -> tuple[Dataset, ActorHandle]:
    """A lazy Dataset of the Parquet files' ``columns`` in a new order every epoch, and the clock its readers post to.

    Pass the clock to ``fit`` (the ranks post their epoch to it). Raises if the files hold no rows.
    """
    groups = row_groups(uris)
    if not groups:
        raise ValueError(f"no image rows in {len(uris)} Parquet file(s), e.g. {uris[0] if uris else 'none'}")
    clock = EpochClock.remote()
    return ray.data.read_datasource(ShuffledParquet(groups, columns, seed, window_rows, clock)), clock
