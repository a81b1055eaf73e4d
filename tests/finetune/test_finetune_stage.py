import json

import pytest
import torch
from exports import random_like
from safetensors.torch import load, load_file
from shapes import write_toy_folder
from synclr_runs import run_synclr

from synclr_ray import storage
from synclr_ray.config import load_config
from synclr_ray.finetune.stage import run_finetune

# 24 training images, 8 a batch: 3 batches an epoch, so 4 steps cross an epoch boundary.
SMALL = ["finetune.steps=4", "finetune.batch_size=8", "finetune.warmup_steps=1", "finetune.checkpoint_every=2",
         "finetune.log_every=1", "finetune.shuffle_buffer=32", "eval.batch_size=16", "ray.progress_bars=false"]  # fmt: skip


def _final_weights(train_uri: str) -> dict[str, torch.Tensor]:
    states = storage.list_files(train_uri, "state.json")
    final = max(states, key=lambda uri: json.loads(storage.read_text(uri))["step"]).rsplit("/", 1)[0]
    return load(storage.read_bytes(f"{final}/model.safetensors"))


@pytest.mark.slow
def test_resumed_finetune_on_s3_equals_a_straight_run(ray_cluster, random_encoder, tmp_path, s3_bucket):
    data = write_toy_folder(str(tmp_path / "shapes"), "shape", {"train": 4, "test": 2}, size=40)  # 6 shapes
    straight = run_finetune(load_config("tiny", SMALL), random_encoder, data, str(tmp_path / "straight"))

    out = f"{s3_bucket}/finetune"
    args = ["finetune", "-e", random_encoder, "-d", data, "-o", out, *[a for o in SMALL for a in ("-s", o)]]
    first = run_synclr(*args, "--steps", "2")
    assert first.code == 0 and "after 2 steps" in first.out, first.err
    second = run_synclr(*args)  # resumes from the checkpoint in the bucket
    assert second.code == 0 and "after 4 steps" in second.out, second.err

    resumed_metrics = [json.loads(line) for line in storage.read_text(f"{out}/train/metrics.jsonl").splitlines()]
    straight_metrics = [
        json.loads(line) for line in (tmp_path / "straight" / "train" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [m["step"] for m in resumed_metrics] == [1, 2, 3, 4]
    assert [m["loss"] for m in resumed_metrics] == pytest.approx([m["loss"] for m in straight_metrics], rel=1e-5)
    a, b = _final_weights(str(tmp_path / "straight" / "train")), _final_weights(f"{out}/train")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    initial = load_file(f"{random_encoder}/model.safetensors")
    assert not torch.equal(a["model.blocks.0.attn.qkv.weight"], initial["blocks.0.attn.qkv.weight"])  # it trained
    result = json.loads(storage.read_text(f"{out}/result.json"))
    assert result["models"] == straight["models"] and result["split"] == "test" and result["step"] == 4
    assert result["dataset"]["splits"] == {"train": 24, "test": 12} and storage.exists(f"{out}/_config.yaml")


@pytest.mark.slow
def test_finetuning_the_toy_encoder_beats_finetuning_random_init(ray_cluster, toy_encoder, tmp_path):
    data = write_toy_folder(str(tmp_path / "colours"), "colour", {"train": 24, "test": 16}, seed=2)
    learn = ["finetune.steps=30", "finetune.batch_size=24", "finetune.warmup_steps=5", "finetune.checkpoint_every=30",
             "finetune.ema_decay=0", "eval.batch_size=48", "ray.progress_bars=false"]  # fmt: skip
    baseline = random_like(toy_encoder, str(tmp_path / "random-init"))
    top1 = {
        name: run_finetune(load_config("tiny", learn), export, data, str(tmp_path / name))["models"]["model"]["top1"]
        for name, export in (("pretrained", toy_encoder), ("random-init", baseline))
    }
    print(f"object colour top-1 after 30 fine-tuning steps: {top1}")
    assert top1["pretrained"] >= top1["random-init"] + 0.1
