"""The downstream task interface: every task implements all of it and travels to ranks and actors by pickle."""

import pickle
from pathlib import Path

import pytest
import torch

from synclr_ray import exports, storage
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


@pytest.mark.parametrize("kind", [FinetuneTask, SegmentTask])
def test_ranks_build_from_the_version_cached_by_its_digest(kind, random_encoder, s3_bucket, tmp_path, monkeypatch):
    """A rank's copy of an export on S3 is the checked, digest-keyed one: a file swapped under the version after
    the run resolved it is refused, not trained from."""
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path / "cache"))
    version = exports.publish(Path(random_encoder), f"{s3_bucket}/export", step=1)
    cfg = load_config("tiny", ["segment.crop_size=32", "segment.channels=16"])
    task = kind(cfg, f"{s3_bucket}/export", _info(random_encoder), num_classes=3)
    digest = storage.read_json(f"{version}/{exports.MANIFEST_FILE}")["digest"].removeprefix("sha256:")
    assert task.local_encoder() == tmp_path / "cache" / "remote" / digest
    task.build()
    storage.write_bytes(f"{version}/config.json", b"{}")
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path / "another-node"))
    with pytest.raises(exports.IncompleteExportError, match="config.json is missing or differs"):
        task.build()
