"""The stream position two data-parallel ranks agree on (two gloo ranks, torch.multiprocessing, no Ray)."""

import json

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from synclr_ray.train.position import StreamPosition

# The stream's rows 0..11 (epoch 0) dealt to two ranks block by block, as streaming_split deals them:
# each rank sees its share in stream order, rank 1 trains its share faster than rank 0.
SHARES = {0: [[(0, 0), (0, 1)], [(0, 4), (0, 5)]], 1: [[(0, 2), (0, 3)], [(0, 6), (0, 7)], [(0, 9), (0, 10)]]}


RESTORED = {"next": [0, 0], "trained": [[0, 11], [0, 20]]}  # a checkpoint of a run with a faster rank


def _agree_twice(rank: int, restored: dict | None) -> list[dict]:
    position = StreamPosition(restored)
    for batch in SHARES[rank]:
        position.trained(batch)
    first = position.agree()
    position.trained([(0, 12), (0, 13)] if rank == 0 else [(0, 14), (0, 15)])
    return [first, position.agree()]


def _worker(rank: int, store_path: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=2)
    try:
        with open(f"{out_dir}/rank{rank}.json", "w") as f:
            json.dump({"fresh": _agree_twice(rank, None), "restored": _agree_twice(rank, RESTORED)}, f)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def agreed(tmp_path_factory) -> dict[str, list[dict]]:
    """What each scenario's ranks agreed on; both ranks agree on the same."""
    out = tmp_path_factory.mktemp("position")
    mp.spawn(_worker, args=(str(out / "store"), str(out)), nprocs=2, join=True)
    rank0, rank1 = (json.loads((out / f"rank{r}.json").read_text()) for r in range(2))
    assert rank0 == rank1
    return rank0


def test_ranks_agree_on_where_a_resumed_stream_starts_and_what_it_leaves_out(agreed):
    first, second = agreed["fresh"]
    # Everything before row 6 was trained (row 8 never reached the trainer); 6, 7, 9, 10 were trained by rank 1.
    assert first == {"next": [0, 6], "trained": [[0, 6], [0, 7], [0, 9], [0, 10]]}
    assert second == {"next": [0, 14], "trained": [[0, 14], [0, 15]]}


def test_rows_trained_before_a_crash_stay_left_out(agreed):
    first, second = agreed["restored"]
    assert first["trained"] == [[0, 6], [0, 7], [0, 9], [0, 10], [0, 11], [0, 20]]
    assert second == {"next": [0, 14], "trained": [[0, 14], [0, 15], [0, 20]]}


def test_one_rank_needs_no_exceptions():
    position = StreamPosition(None)
    position.trained([(1, 8), (1, 9)])
    assert position.agree() == {"next": [1, 10], "trained": []}
