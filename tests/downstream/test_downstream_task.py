"""The downstream task interface: every task implements all of it and travels to ranks and actors by pickle."""

import pickle

import pytest
import torch

from synclr_ray.config import load_config
from synclr_ray.downstream.task import DownstreamTask
from synclr_ray.encoder import load_encoder
from synclr_ray.finetune.task import FinetuneTask
from synclr_ray.segment.task import SegmentTask


def _info(export: str) -> dict:
    encoder = load_encoder(export)
    return {**encoder.info, "depth": len(encoder.model.blocks)}


def test_an_incomplete_task_cannot_be_created():
    class HalfTask(DownstreamTask):
        @property
        def section(self):
            return None

    with pytest.raises(TypeError, match="abstract"):
        HalfTask(load_config("tiny"), "x", {}, 2)


@pytest.mark.parametrize("kind", [FinetuneTask, SegmentTask])
def test_a_pickled_task_rebuilds_the_same_module_on_another_rank(kind, random_encoder):
    cfg = load_config("tiny", ["segment.crop_size=32", "segment.channels=16"])
    task = kind(cfg, random_encoder, _info(random_encoder), num_classes=3)
    again = pickle.loads(pickle.dumps(task))
    assert again.section == task.section and again.export_uri == random_encoder
    torch.manual_seed(0)  # heads start random: ranks seed alike before building (downstream/loop.py)
    first = task.build().state_dict()
    torch.manual_seed(0)
    second = again.build().state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert callable(pickle.loads(pickle.dumps(task.augment)))  # the augmentation runs in Ray tasks
