"""Training guards: NaN losses skipped and counted, then a stop naming the last good checkpoint; undecodable
images skipped and counted in the run's metrics and summary, then a stop past train.max_bad_fraction."""

import contextlib
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from gratings import caption_images, write_image_rows
from safetensors.torch import load_file
from synclr_runs import run_synclr

from synclr_ray.config import load_config
from synclr_ray.train.checkpoint import TrainState
from synclr_ray.train.guards import Guards, TrainingStopped
from synclr_ray.train.ingest import CropBatch
from synclr_ray.train.loop import train_step
from synclr_ray.train.objective import SynCLR
from synclr_ray.train.schedules import Schedules
from synclr_ray.train.stage import run_pretrain

# 8 captions, 4 per batch: 2 batches an epoch.
SMALL = ["train.batch_captions=4", "train.optim.warmup_steps=1", "train.log_every=1", "train.loader_tasks=1",
         "ray.progress_bars=false"]  # fmt: skip


def _guards(**overrides) -> Guards:
    cfg = load_config("tiny", [f"train.{k}={v}" for k, v in overrides.items()]).train
    return Guards(cfg, "s3://bucket/run/train", stop_step=100, last_checkpoint=None)


def test_non_finite_steps_in_a_row_stop_the_run_naming_the_last_good_checkpoint():
    guards, state = _guards(max_consecutive_nonfinite=3), TrainState()
    for step, skipped in enumerate([True, True, False, True, True], start=1):  # a finite step resets the streak
        state.step = step
        assert guards.update(state, skipped, 0, 16, None) is None
    guards.last_checkpoint = 4
    state.step = 6
    reason = guards.update(state, True, 0, 16, None)
    assert state.skipped_steps == 5
    assert reason.startswith("3 non-finite losses in a row (steps 4-6, train.max_consecutive_nonfinite=3)")
    assert "last good checkpoint is s3://bucket/run/train/checkpoint_00000004 (step 4)" in reason


def test_bad_records_stop_the_run_past_their_share_of_the_images_it_reads():
    guards, state = _guards(max_bad_fraction=0.01), TrainState()  # 100 steps x 16 images: 16 may be bad
    assert guards.update(state, False, 16, 16, "caption c image 0: OSError: truncated") is None
    reason = guards.update(state, False, 1, 16, "caption d image 3: OSError: truncated")
    assert (state.bad_records, state.records) == (17, 32)
    assert reason.startswith("17 of the 32 images read so far could not be decoded (e.g. caption d image 3")
    assert "train.max_bad_fraction=0.01 of the 1600 images" in reason and "starts from scratch" in reason


def test_a_non_finite_step_changes_no_weight_buffer_or_optimiser_state():
    cfg = load_config("tiny", ["train.test_nan_loss_steps=[1]"]).train
    torch.manual_seed(0)
    module = SynCLR(cfg).train()
    optimizer = torch.optim.AdamW(module.param_groups(), lr=0.0)
    images, size, local = 8, cfg.crops.global_size, cfg.crops.local_size
    batch = CropBatch(torch.randn(images, 3, size, size), torch.randn(images * cfg.crops.num_local, 3, local, local),
                      torch.arange(2).repeat_interleave(4), ["a", "b"])  # fmt: skip
    values = Schedules(cfg).at(10)

    def step(force_nan: bool) -> bool:
        return train_step(module, module, optimizer, batch, None, values, contextlib.nullcontext(),
                          torch.device("cpu"), cfg.optim.grad_clip, seed=1, force_nan=force_nan)[1]  # fmt: skip

    before = {k: v.clone() for k, v in module.state_dict().items()}
    assert step(force_nan=True)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())  # BatchNorm statistics too
    assert not optimizer.state  # AdamW never stepped
    assert not step(force_nan=False)
    assert any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def _metrics(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "train" / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # Ray Train runs: ~1 min each on the shared 2-core machine
def test_a_nan_loss_skips_its_step_and_is_counted(ray_cluster, tmp_path):
    write_image_rows(tmp_path / "images", 8, size=48)
    cfg = load_config("tiny", [*SMALL, "train.steps=4", "train.checkpoint_every=1", "train.keep_checkpoints=4",
                               "train.test_nan_loss_steps=[3]"])  # fmt: skip
    out = run_pretrain(cfg, str(tmp_path))
    assert out["step"] == 4 and out["skipped_steps"] == 1
    metrics = _metrics(tmp_path)
    assert [m["skipped_steps"] for m in metrics] == [0, 0, 1, 1]
    assert metrics[2]["loss"] != metrics[2]["loss"]  # NaN, logged as such
    weights = {
        step: load_file(tmp_path / "train" / f"checkpoint_{step:08d}" / "model.safetensors") for step in (2, 3, 4)
    }
    assert all((weights[2][k] == weights[3][k]).all() for k in weights[2])  # student and EMA teacher untouched
    assert any((weights[3][k] != weights[4][k]).any() for k in weights[3])  # step 4 trained again
    assert (tmp_path / "export" / "latest").is_file()


@pytest.mark.slow  # Ray Train runs: ~1 min each on the shared 2-core machine
def test_nan_losses_in_a_row_stop_naming_the_last_good_checkpoint(ray_cluster, tmp_path):
    write_image_rows(tmp_path / "images", 8, size=48)
    cfg = load_config("tiny", [*SMALL, "train.steps=8", "train.checkpoint_every=4", "train.max_consecutive_nonfinite=3",
                               "train.test_nan_loss_steps=[5, 6, 7]"])  # fmt: skip
    good = tmp_path / "train" / "checkpoint_00000004"
    with pytest.raises(TrainingStopped) as stopped:
        run_pretrain(cfg, str(tmp_path))
    message = str(stopped.value)
    assert "training stopped at step 7: 3 non-finite losses in a row (steps 5-7" in message
    assert f"last good checkpoint is {good} (step 4)" in message and "train.max_consecutive_nonfinite=3" in message
    assert [m["step"] for m in _metrics(tmp_path)] == [1, 2, 3, 4, 5, 6]  # stopped once, not retried
    assert sorted(p.name for p in (tmp_path / "train").glob("checkpoint_0*")) == ["checkpoint_00000004"]
    assert not (tmp_path / "export").exists()  # nothing exported


def _with_truncated_png(images_dir: Path) -> None:
    """Make image 1 of caption cap-00002 a PNG cut in half."""
    part = images_dir / "part-000.parquet"
    table = pq.read_table(part)
    rows = table.to_pylist()
    buffer = io.BytesIO()
    caption_images(8, size=48)[2][1].save(buffer, format="PNG")
    rows[2]["images"][1] = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), part)


@pytest.mark.slow  # Ray Train runs: ~1 min each on the shared 2-core machine
def test_a_truncated_png_is_skipped_and_reported_as_one_bad_record(ray_cluster, tmp_path):
    write_image_rows(tmp_path / "images", 8, size=48)
    _with_truncated_png(tmp_path / "images")
    args = ["pretrain", "--root", str(tmp_path), *[a for o in SMALL for a in ("--set", o)], "--set", "train.steps=2",
            "--set", "train.checkpoint_every=2", "--set", "train.max_bad_fraction=0.05"]  # fmt: skip
    result = run_synclr(*args)  # one epoch: every row read once
    assert result.code == 0 and "trained to step 2" in result.out, result.err
    assert "0 steps with a non-finite loss, 1 bad records" in result.out
    assert [m["bad_records"] for m in _metrics(tmp_path)] == [1, 1]  # cap-00002 is in the first batch

    # Past train.max_bad_fraction (1 of the 32 images is over 1%), the run stops and names the record.
    with pytest.raises(
        TrainingStopped,
        match=r"1 of the 16 images read so far could not be decoded \(e.g. caption cap-00002 image 1: OSError.*of the 32 images",
    ):
        run_pretrain(load_config("tiny", [*SMALL, "train.steps=2", "train.checkpoint_every=2"]), str(tmp_path / "strict"),
                     images_uri=str(tmp_path / "images"))  # fmt: skip
