"""Any object store: the stages run on gs:// and abfs:// roots (a local fake GCS server, Azurite) exactly as on
local disk or s3://."""

import io

import pandas as pd
import pytest

from synclr_ray import storage

SETTINGS = ["captions.max_new_tokens=24", "images.resolution=32", "images.store_size=32",
            "images.num_inference_steps=2", "images.shard_captions=2", "images.batch_size=2",
            "ray.progress_bars=false"]  # fmt: skip


@pytest.mark.slow  # two CLI processes, tiny LLM and diffusion runs: ~1 min per store
@pytest.mark.parametrize("store", ["gs", "abfs"])
def test_captions_and_images_on_an_object_store_root(ray_cluster, store, bucket_of, synclr_process):
    root = f"{bucket_of(store)}/run"
    sets = [a for setting in SETTINGS for a in ("--set", setting)]
    for args in (["captions", "--root", root, "--num-captions", "4"], ["images", "--root", root]):
        ran = synclr_process(*args, *sets, join_ray=True, timeout=600)
        assert ran.code == 0, ran.err
        # Output to a pipe is plain text: no progress bars redrawing a line, no colour codes.
        assert "\r" not in ran.out + ran.err and "\x1b[" not in ran.out + ran.err
    images = storage.list_files(f"{root}/images", ".parquet")
    assert images and all(uri.startswith(f"{root}/images/") for uri in images)
    frame = pd.concat(pd.read_parquet(io.BytesIO(storage.read_bytes(uri))) for uri in images)
    assert len(frame) == 4 and frame["caption_id"].is_unique
    assert all(len(row) == 4 for row in frame["images"])  # 4 images per caption
    assert not storage.exists(f"{root}/_leases/images.json")  # the lease was taken and released


@pytest.mark.parametrize("command", ["captions", "images", "pretrain"])
def test_a_root_on_a_store_without_conditional_writes_is_refused_in_one_line(synclr, command):
    ran = synclr(command, "--root", "hdfs://namenode:8020/run")
    assert ran.code == 1 and ran.err.count("\n") <= 1
    assert ran.err.startswith("error: hdfs://namenode:8020/run: run roots need conditional writes")
