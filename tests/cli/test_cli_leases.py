"""One writer per stage output, as users meet it: two `synclr images` on one run root."""

import getpass
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from synclr_ray import rows

SYNCLR = str(Path(sys.executable).parent / "synclr")
CAPTIONS = 12
SETTINGS = ["images.resolution=32", "images.store_size=32", "images.num_inference_steps=2", "images.shard_captions=2",
            "images.batch_size=2", "ray.progress_bars=false", "lease.heartbeat_s=1", "lease.stale_after_s=30"]  # fmt: skip


def _write_captions(folder: Path) -> None:
    """Committed caption rows (`rows.CAPTION_SCHEMA`), as the caption stage leaves them."""
    records = [{"caption_id": f"cap-{i:04d}", "index": i, "epoch": 0, "caption": f"a photo of a red fox number {i} in the snow",
                "concept": "red fox", "concept_source": "imagenet-1k", "template": "c -> caption", "seed": i}
               for i in range(CAPTIONS)]  # fmt: skip
    rows.write_rows(str(folder), "part-0", rows.to_table(records, rows.CAPTION_SCHEMA), rows.CAPTION_SCHEMA)


@pytest.mark.slow  # two CLI processes and a tiny diffusion run: ~1 min
def test_a_second_images_on_one_root_fails_naming_the_holder_and_the_first_finishes(ray_cluster, tmp_path):
    _write_captions(tmp_path / "captions")
    root = tmp_path / "run"
    args = [SYNCLR, "images", "--root", str(root), "--captions", str(tmp_path / "captions")]
    args += [a for setting in SETTINGS for a in ("--set", setting)]
    # Both commands join this session's cluster, as two jobs submitted to one cluster would.
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    lease = root / "_leases" / "images.json"

    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not lease.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lease.exists(), first.communicate()
    second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert first.poll() is None, "the first command finished before the second started: nothing was tested"
    assert second.returncode != 0
    assert (
        f"error: the images output of this run root is being written by 'synclr images' run by {getpass.getuser()} "
        f"on {socket.gethostname()} (pid {first.pid}), last heartbeat"
    ) in second.stderr, second.stderr

    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert f"{CAPTIONS} captions, {4 * CAPTIONS} images in 6/6 shards" in out
    table = pa.concat_tables(pq.read_table(part) for part in sorted((root / "images").glob("*.parquet")))
    assert table.num_rows == CAPTIONS and len(set(table["caption_id"].to_pylist())) == CAPTIONS
    assert not lease.exists()  # released on exit
