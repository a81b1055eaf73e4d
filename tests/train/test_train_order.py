import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from gratings import image_rows

from synclr_ray.config import load_config
from synclr_ray.rows import TRAINING_COLUMNS
from synclr_ray.train.ingest import CaptionBatches
from synclr_ray.train.order import epoch_windows, row_groups, shuffled_rows

CAPTIONS = 27
WORLD, PER_RANK = 2, 2  # batches of 2 captions per rank: 13 rows per rank, 6 batches an epoch, 1 row left out


@pytest.fixture(scope="module")
def parquet(tmp_path_factory) -> list[str]:
    """27 caption rows in 3 files of uneven row groups (4 + 4 + 2, 5 + 5, 7)."""
    directory = tmp_path_factory.mktemp("rows")
    table = image_rows(CAPTIONS, size=32)
    for name, (start, stop), row_group_size in (("a", (0, 10), 4), ("b", (10, 20), 5), ("c", (20, 27), 7)):
        pq.write_table(table.slice(start, stop - start), directory / f"{name}.parquet", row_group_size=row_group_size)
    return sorted(str(p) for p in Path(directory).glob("*.parquet"))


def test_windows_cover_every_row_group_once_in_a_seeded_order(parquet):
    groups = row_groups(parquet)
    assert [g.num_rows for g in groups] == [4, 4, 2, 5, 5, 7]
    orders = {}
    for epoch in range(3):
        windows = epoch_windows(groups, seed=0, epoch=epoch, window_rows=8)
        assert all(sum(g.num_rows for g in w) >= 8 for w in windows[:-1])
        flat = [g for w in windows for g in w]
        assert sorted(flat, key=groups.index) == groups
        orders[epoch] = flat
        assert epoch_windows(groups, seed=0, epoch=epoch, window_rows=8) == windows  # a pure function
    assert len({tuple(map(groups.index, o)) for o in orders.values()}) == 3
    assert epoch_windows(groups, seed=1, epoch=0, window_rows=8) != epoch_windows(groups, 0, 0, 8)


def _run(parquet: list[str], start: tuple[int, int], count: int) -> list[list[tuple[int, int, object]]]:
    """``count`` batches of each of 2 ranks from (epoch, batch) ``start``, as the training loop reads them."""
    cfg = load_config("tiny", [f"train.batch_captions={WORLD * PER_RANK}", f"train.num_workers={WORLD}",
                               "train.loader_tasks=1", "train.shuffle_window=8"]).train  # fmt: skip
    dataset, clock = shuffled_rows(parquet, TRAINING_COLUMNS, seed=0, window_rows=cfg.shuffle_window)
    splits = dataset.streaming_split(WORLD, equal=True)

    def rank(r: int) -> list:
        stream = CaptionBatches(splits[r], cfg, seed=0, rank=r, epoch_clock=clock).stream(*start)
        return list(itertools.islice(stream, count))

    with ThreadPoolExecutor(WORLD) as pool:
        return list(pool.map(rank, range(WORLD)))


def test_each_epoch_a_new_order_every_row_once_and_resume_sees_the_same(ray_cluster, parquet):
    straight = _run(parquet, (0, 0), count=13)  # epochs 0 and 1, and the first batch of epoch 2
    by_epoch: dict[int, list[list[str]]] = {}
    for items in straight:
        assert [(e, i) for e, i, _ in items] == [(e, i) for e in range(3) for i in range(6)][:13]
    for position in range(13):
        epoch = straight[0][position][0]
        by_epoch.setdefault(epoch, []).append([c for items in straight for c in items[position][2].caption_ids])
    for epoch in (0, 1):
        seen = [c for batch in by_epoch[epoch] for c in batch]
        assert len(seen) == len(set(seen)) == CAPTIONS - 3  # no caption twice; 1 row per rank + 1 unsplit left out
    assert by_epoch[0] != by_epoch[1] and by_epoch[1][0] != by_epoch[2][0]  # new batches every epoch
    assert {frozenset(b) for b in by_epoch[0]} != {frozenset(b) for b in by_epoch[1]}  # not just reordered

    # A run resumed mid-epoch 1 (fresh dataset, split and ingest) reads exactly the straight run's batches.
    resumed = _run(parquet, (1, 2), count=5)
    for r in range(WORLD):
        for (epoch, index, batch), (s_epoch, s_index, s_batch) in zip(resumed[r], straight[r][8:13], strict=True):
            assert (epoch, index) == (s_epoch, s_index)
            assert batch.caption_ids == s_batch.caption_ids
            assert torch.equal(batch.global_crops, s_batch.global_crops)
