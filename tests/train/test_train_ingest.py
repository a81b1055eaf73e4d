import io
import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
import ray
import torch
from gratings import caption_images, image_rows

from synclr_ray.config import load_config
from synclr_ray.train.ingest import CaptionBatches, crop_rows


def _train_config(*overrides: str):
    return load_config("tiny", [f"train.{o}" for o in overrides]).train


def test_batches_hold_whole_captions_and_every_rank_gets_as_many(ray_cluster):
    cfg = _train_config("batch_captions=4", "num_workers=2", "loader_tasks=2")
    splits = ray.data.from_arrow(image_rows(14, size=32)).streaming_split(2, equal=True)

    def first_epoch(rank: int) -> list:
        stream = CaptionBatches(splits[rank], cfg, seed=0, rank=rank).stream()
        # 7 rows per rank -> 3 batches of 2 captions; the 4th item comes from the next epoch.
        return list(itertools.islice(stream, 4))

    with ThreadPoolExecutor(2) as pool:
        per_rank = list(pool.map(first_epoch, range(2)))

    seen = []
    for rank, items in enumerate(per_rank):
        assert [(epoch, index) for epoch, index, _ in items] == [(0, 0), (0, 1), (0, 2), (1, 0)]
        for _, _, batch in items[:3]:
            assert len(batch.caption_ids) == 2
            assert batch.labels.tolist() == [2 * rank] * 4 + [2 * rank + 1] * 4  # image-major, unique across ranks
            assert batch.global_crops.shape == (8, 3, 64, 64)
            assert batch.local_crops.shape == (16, 3, 32, 32)
            seen += batch.caption_ids
    assert len(seen) == len(set(seen)) == 12  # each caption once per epoch, whole; the odd row per rank dropped


def test_crops_depend_only_on_seed_epoch_and_caption(ray_cluster):
    cfg = _train_config("batch_captions=2", "loader_tasks=1")
    rows = image_rows(6, size=32)
    dataset = ray.data.from_arrow(rows)
    full = list(itertools.islice(CaptionBatches(dataset.iterator(), cfg, seed=0, rank=0).stream(), 4))
    resumed = next(CaptionBatches(dataset.iterator(), cfg, seed=0, rank=0).stream(epoch=0, skip=2))
    epoch, index, batch = resumed
    assert (epoch, index) == (0, 2) and batch.caption_ids == full[2][2].caption_ids
    assert torch.equal(batch.global_crops, full[2][2].global_crops)
    assert torch.equal(batch.local_crops, full[2][2].local_crops)

    # The same caption is cropped differently in the next epoch, and in a run with another seed.
    assert full[3][2].caption_ids == full[0][2].caption_ids
    assert not torch.equal(full[3][2].global_crops, full[0][2].global_crops)
    ids, images = rows.column("caption_id").to_pylist()[:2], rows.column("images").to_pylist()[:2]
    same, _, _ = crop_rows(ids, images, cfg, seed=0, epoch=0)
    other, _, _ = crop_rows(ids, images, cfg, seed=1, epoch=0)
    assert torch.equal(torch.from_numpy(same), full[0][2].global_crops)
    assert not torch.equal(torch.from_numpy(other), full[0][2].global_crops)


def test_rows_without_images_are_named(ray_cluster):
    cfg = _train_config("batch_captions=2")
    dataset = ray.data.from_arrow(image_rows(2, size=32).drop_columns(["images"]))
    with pytest.raises(ValueError, match="lack column.*images"):
        next(CaptionBatches(dataset.iterator(), cfg, seed=0, rank=0).stream())


def test_too_few_captions_for_a_batch_is_an_error(ray_cluster):
    cfg = _train_config("batch_captions=8")
    with pytest.raises(ValueError, match="at least 8 captions"):
        next(CaptionBatches(ray.data.from_arrow(image_rows(3, size=32)).iterator(), cfg, seed=0, rank=0).stream())


def test_a_stream_is_read_once_to_its_last_batch_with_its_keys(ray_cluster):
    cfg = _train_config("batch_captions=2", "loader_tasks=1", "prefetch_batches=2")
    stream = CaptionBatches(ray.data.from_arrow(image_rows(7, size=32)).iterator(), cfg, seed=0, rank=0, passes=1)
    batches = list(stream.stream())
    assert [(epoch, index) for epoch, index, _ in batches] == [(0, 0), (0, 1), (0, 2)]  # prefetched ones too
    assert [batch.keys for _, _, batch in batches] == [[(0, 0), (0, 1)], [(0, 2), (0, 3)], [(0, 4), (0, 5)]]


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_undecodable_images_are_counted_and_replaced_within_their_caption(ray_cluster):
    cfg = _train_config("batch_captions=4", "loader_tasks=2")
    rows = image_rows(4, size=32).to_pylist()
    truncated = _png(caption_images(4, size=32)[1][2])
    rows[1]["images"][2] = truncated[: len(truncated) // 2]
    rows[3]["images"] = [b"not an image"] * 4  # nothing of this caption decodes
    batch = next(CaptionBatches(ray.data.from_items(rows).iterator(), cfg, seed=0, rank=0).stream())[2]

    assert [(c, i) for c, i, _ in batch.bad_records] == [("cap-00001", 2)] + [("cap-00003", i) for i in range(4)]
    assert "truncated" in batch.bad_records[0][2] or "broken" in batch.bad_records[0][2]
    assert batch.global_crops.shape == (16, 3, 64, 64) and batch.local_crops.shape == (32, 3, 32, 32)
    crops = batch.global_crops
    # Image 2 of caption 1 is another view of one of its caption's images: a real crop, not a copy.
    assert crops[6].abs().sum() > 0 and all(not torch.equal(crops[6], crops[j]) for j in range(16) if j != 6)
    # Caption 3 takes the crops and the label of a caption that decoded: positives of that caption, not negatives.
    donor = batch.labels[12].item()
    assert donor != 3 and batch.labels[12:].tolist() == [donor] * 4
    assert torch.equal(crops[12:], crops[4 * donor : 4 * donor + 4])
    assert torch.equal(batch.local_crops[24:], batch.local_crops[8 * donor : 8 * donor + 8])
