import json

import pytest
import torch
from exports import random_like
from safetensors.torch import load_file
from synclr_runs import run_synclr

from synclr_ray.config import load_config
from synclr_ray.segment.stage import run_segment
from synclr_ray.segment.synthetic import write_segmentation_set

# 8 training scenes, 4 a batch: 2 batches an epoch, so 4 steps cross epoch boundaries.
SMALL = ["segment.steps=4", "segment.batch_size=4", "segment.warmup_steps=1", "segment.checkpoint_every=2",
         "segment.log_every=1", "segment.crop_size=32", "segment.channels=32", "segment.shuffle_buffer=16",
         "eval.batch_size=4", "ray.progress_bars=false"]  # fmt: skip


def _final(train_dir) -> dict[str, torch.Tensor]:
    return load_file(sorted(train_dir.glob("checkpoint_0*"))[-1] / "model.safetensors")


@pytest.mark.slow
def test_resumed_upernet_run_equals_a_straight_run(ray_cluster, random_encoder, tmp_path):
    data = write_segmentation_set(str(tmp_path / "ade"), train=8, val=3, size=48)
    straight = run_segment(load_config("tiny", SMALL), random_encoder, data, str(tmp_path / "straight"))

    args = [
        "segment",
        "-e",
        random_encoder,
        "-d",
        data,
        "-o",
        str(tmp_path / "resumed"),
        *[a for o in SMALL for a in ("-s", o)],
    ]
    first = run_synclr(*args, "--steps", "2")
    assert first.code == 0 and "upernet head, fine-tuned encoder, 2 steps" in first.out, first.err
    second = run_synclr(*args)
    assert second.code == 0 and "4 steps: mIoU" in second.out, second.err

    metrics = [[json.loads(line) for line in (tmp_path / run / "train" / "metrics.jsonl").read_text().splitlines()]
               for run in ("straight", "resumed")]  # fmt: skip
    assert [m["step"] for m in metrics[1]] == [1, 2, 3, 4]
    assert [m["loss"] for m in metrics[1]] == pytest.approx([m["loss"] for m in metrics[0]], rel=1e-5)
    a, b = _final(tmp_path / "straight" / "train"), _final(tmp_path / "resumed" / "train")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(k.startswith("neck.") for k in a) and any(k.startswith("upernet.decode_head.") for k in a)
    resumed = json.loads((tmp_path / "resumed" / "result.json").read_text())
    assert resumed["mIoU"] == straight["mIoU"] and resumed["confusion"] == straight["confusion"]
    assert (
        0 <= resumed["mIoU"] <= 1
        and len(resumed["iou"]) == 7
        and resumed["dataset"]["splits"] == {"train": 8, "val": 3}
    )


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="objects 50%/75% wide (issue 16's world) crowd the 2-3 copies of a scene: pretrained 0.514 vs random "
    "0.533 mIoU; shrinking copies to fit side by side passes (0.502 vs 0.406) but changes the tiny SD's "
    "autoencoder fit set, whose colour-following then fell to 80.8% (README, Toy world)",
)
def test_linear_probe_on_the_toy_encoder_beats_random_init(ray_cluster, toy_encoder, tmp_path):
    data = write_segmentation_set(str(tmp_path / "ade"), train=32, val=12, size=64, seed=5, label="colour")
    learn = ["segment.head=linear", "segment.steps=40", "segment.batch_size=16", "segment.warmup_steps=4",
             "segment.lr=0.01", "segment.checkpoint_every=40", "eval.batch_size=12", "ray.progress_bars=false"]  # fmt: skip
    baseline = random_like(toy_encoder, str(tmp_path / "random-init"))
    miou = {
        name: run_segment(load_config("tiny", learn), export, data, str(tmp_path / name))["mIoU"]
        for name, export in (("pretrained", toy_encoder), ("random-init", baseline))
    }
    print(f"procedural scenes by object colour, linear head mIoU after 40 steps: {miou}")
    assert miou["pretrained"] >= miou["random-init"] + 0.05
