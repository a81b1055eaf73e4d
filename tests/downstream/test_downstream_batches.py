import pytest
import torch
from exports import random_export

from synclr_ray.config import load_config
from synclr_ray.downstream.batches import AugmentedBatches
from synclr_ray.encoder import load_encoder
from synclr_ray.eval.datasets import digits
from synclr_ray.finetune.task import FinetuneTask


def _first(stream, count: int) -> list[tuple[int, int, dict[str, torch.Tensor]]]:
    return [next(stream) for _ in range(count)]


@pytest.mark.slow  # Ray tasks that import torch and timm: ~150 s on the shared machine
def test_resuming_mid_epoch_replays_the_same_batches_and_epochs_reshuffle(ray_cluster, tmp_path):
    export = random_export(str(tmp_path / "export"), image_size=16, depth=1)
    cfg = load_config("tiny", ["finetune.batch_size=16", "finetune.shuffle_buffer=64", "finetune.loader_tasks=1"])
    task = FinetuneTask(cfg, export, load_encoder(export).info, num_classes=10)
    rows = digits().rows.limit(48).materialize()  # 3 batches an epoch
    straight = _first(AugmentedBatches(rows.iterator(), task.augment, cfg.finetune, seed=0).stream(), 5)
    resumed = _first(AugmentedBatches(rows.iterator(), task.augment, cfg.finetune, seed=0).stream(0, 2), 3)
    assert [(e, i) for e, i, _ in straight] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    for (_, _, a), (_, _, b) in zip(straight[2:], resumed, strict=True):
        assert torch.equal(a["label"], b["label"]) and torch.equal(a["image"], b["image"])
    epoch0 = torch.cat([b["label"] for _, _, b in straight[:3]])
    assert sorted(epoch0.tolist()) == sorted(r["label"] for r in rows.take_all())  # every row once an epoch
    assert not torch.equal(straight[0][2]["label"], straight[3][2]["label"])  # the next epoch is reshuffled
