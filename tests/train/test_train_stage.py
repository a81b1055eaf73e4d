import json
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import timm
import torch
from gratings import image_rows, write_image_rows
from safetensors.torch import load, load_file
from synclr_runs import run_synclr

from synclr_ray import exports, rows, storage
from synclr_ray.config import load_config
from synclr_ray.encoder import load_encoder
from synclr_ray.train.backbone import backbone_model_args
from synclr_ray.train.checkpoint import load_checkpoint
from synclr_ray.train.objective import SynCLR
from synclr_ray.train.order import shuffled_rows
from synclr_ray.train.stage import fit, read_image_rows, run_pretrain

# 8 captions, 4 per batch: 2 batches an epoch, so 4 steps cross epoch boundaries.
SMALL = ["train.batch_captions=4", "train.steps=4", "train.optim.warmup_steps=1", "train.checkpoint_every=2",
         "train.log_every=1", "train.loader_tasks=1", "ray.progress_bars=false"]  # fmt: skip


def _final_checkpoint(train_dir: Path) -> Path:
    return sorted(train_dir.glob("checkpoint_0*"))[-1]


def _metrics(train_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (train_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def straight_run(ray_cluster, tmp_path_factory) -> Path:
    """4 steps in one go."""
    root = tmp_path_factory.mktemp("straight")
    write_image_rows(root / "images", 8, size=48)
    run_pretrain(load_config("tiny", SMALL), str(root))
    return root


def _s3_final_checkpoint(train_uri: str) -> str:
    states = storage.list_files(train_uri, "state.json")
    return max(states, key=lambda uri: json.loads(storage.read_text(uri))["step"]).rsplit("/", 1)[0]


@pytest.mark.slow
def test_resume_on_s3_equals_straight_run_and_cli_exports(straight_run, s3_bucket):
    root = f"{s3_bucket}/resumed"
    storage.upload_dir(straight_run / "images", f"{root}/images")
    args = ["pretrain", "--root", root, "--config", "tiny", *[a for o in SMALL for a in ("--set", o)]]
    first = run_synclr(*args, "--steps", "2")
    assert first.code == 0 and "trained to step 2" in first.out, first.err
    assert json.loads(storage.read_text(f"{_s3_final_checkpoint(f'{root}/train')}/state.json"))["step"] == 2
    second = run_synclr(*args)  # resumes from the checkpoint in the bucket
    assert second.code == 0 and "trained to step 4" in second.out, second.err

    straight, resumed = _final_checkpoint(straight_run / "train"), _s3_final_checkpoint(f"{root}/train")
    state = json.loads(storage.read_text(f"{resumed}/state.json"))
    assert (
        state
        == json.loads((straight / "state.json").read_text())
        == {
            "step": 4,
            "epoch": 1,
            "batch_in_epoch": 2,
            "stream": None,
            "skipped_steps": 0,
            "bad_records": 0,
            "records": 64,
        }
    )
    # Same data order and crops: the loss of every step matches, and so do the final weights.
    straight_losses = [m["loss"] for m in _metrics(straight_run / "train")]
    resumed_metrics = [json.loads(line) for line in storage.read_text(f"{root}/train/metrics.jsonl").splitlines()]
    assert [m["step"] for m in resumed_metrics] == [1, 2, 3, 4]
    assert [m["loss"] for m in resumed_metrics] == pytest.approx(straight_losses, rel=1e-5)
    a, b = load_file(straight / "model.safetensors"), load(storage.read_bytes(f"{resumed}/model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
    initial = _initial_weights()
    assert any(not torch.equal(a[name], initial[name]) for name in a)  # it did train
    assert load_encoder(f"{root}/export").info["feature_dim"] == 192 and storage.exists(f"{root}/train/_config.yaml")


def _initial_weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return SynCLR(load_config("tiny", SMALL).train).state_dict()


def test_export_loads_in_timm_with_the_teacher_features(straight_run):
    cfg = load_config("tiny", SMALL).train
    model = SynCLR(cfg)
    load_checkpoint(_final_checkpoint(straight_run / "train"), model)
    teacher = model.teacher_backbone.eval()
    weights = Path(exports.resolve(str(straight_run / "export"))) / "model.safetensors"
    plain = timm.create_model(
        cfg.backbone.name, pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": str(weights)},
        **backbone_model_args(cfg.backbone, cfg.crops.global_size),
    ).eval()  # fmt: skip
    encoder = load_encoder(str(straight_run / "export"))
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = teacher.forward_features(x)
        assert torch.allclose(plain.forward_features(x), expected, atol=1e-5)
    assert torch.allclose(encoder.features(x), expected[:, 0], atol=1e-5)
    assert encoder.info["image_size"] == 64 and encoder.info["feature_dim"] == 192


@pytest.mark.slow
def test_a_crashed_worker_is_restarted_from_the_last_checkpoint(ray_cluster, tmp_path, kill_a_trainer_when):
    images = write_image_rows(tmp_path / "images", 8, size=48)
    cfg = load_config("tiny", [*SMALL, "train.steps=6", "train.num_workers=2", "train.cpus_per_worker=0.5",
                               "train.max_failures=1"])  # fmt: skip
    train_dir = tmp_path / "train"
    killed: list[float] = []
    killer = threading.Thread(target=kill_a_trainer_when, args=(train_dir / "checkpoint_00000002", killed))
    killer.start()
    # The restarted worker group re-reads the shuffled rows: the ranks post their epoch to the same clock.
    dataset, clock = shuffled_rows(rows.CommitLog(str(images)).files(), rows.TRAINING_COLUMNS, 0, 2048)
    fit(cfg, dataset, str(train_dir), epoch_clock=clock)
    killer.join()
    assert killed, "no trainer process was found to kill"
    final = _final_checkpoint(train_dir)
    assert json.loads((final / "state.json").read_text())["step"] == 6
    assert (final / "state.json").stat().st_mtime > killed[0]  # the run finished after the crash
    assert [m["step"] for m in _metrics(train_dir)] == [1, 2, 3, 4, 5, 6]


def test_pretrain_reads_only_committed_image_shards(ray_cluster, tmp_path):
    images = write_image_rows(tmp_path / "images", 4, files=2, size=32)
    uncommitted = tmp_path / "images" / "late.parquet"  # a shard written when its run died, before its commit
    pq.write_table(image_rows(3, size=32), uncommitted)
    assert read_image_rows(str(images), 0, 2048)[0].count() == 4
    rows.CommitLog(str(images)).commit("late", [{"path": "late.parquet", "rows": 3}])
    assert read_image_rows(str(images), 0, 2048)[0].count() == 7
    with pytest.raises(FileNotFoundError, match="no committed image rows under .*empty"):
        read_image_rows(str(tmp_path / "empty"), 0, 2048)


def test_export_is_a_hub_folder_with_its_model_card(straight_run):
    """What `huggingface_hub.upload_folder` would publish as is: timm's Hub files and a README.md model card."""
    from huggingface_hub import ModelCard
    from timm.models._hub import load_model_config_from_path, load_state_dict_from_path

    version = Path(exports.resolve(str(straight_run / "export")))
    names = {path.name for path in version.iterdir()}
    assert names == {"README.md", "config.json", "model.safetensors", "_config.yaml", "_export.json"}
    assert "README.md" in json.loads((version / "_export.json").read_text())["files"]  # part of the version's digest
    _, name, _ = load_model_config_from_path(version)  # the same parsing as timm's hf-hub: loader
    assert name == load_config("tiny", SMALL).train.backbone.name and load_state_dict_from_path(version)
    card = ModelCard.load(version / "README.md")
    assert card.data.library_name == "timm" and card.data.pipeline_tag == "image-feature-extraction"
    step = json.loads((version / "_export.json").read_text())["step"]
    assert f"-step{step}" in card.text and "tiny stand-in built by synclr-ray" in card.text
    assert load_encoder(str(straight_run / "export")).info["digest"] in card.text
