"""`synclr` on a run root as a user types it: the root's config is used, a refused change is one line naming the fields."""

import pytest
import yaml

from synclr_ray.root_config import root_config

NO_IMAGES = "run `synclr images`"  # what `synclr pretrain` says on a root without images, past its config


@pytest.mark.slow  # two `synclr` processes, one joining Ray: ~25 s
def test_a_refused_change_is_one_line_and_allow_change_lets_it_through(tmp_path, ray_cluster, synclr_process):
    root = tmp_path / "run"
    root_config(str(root), "tiny")  # remembered by an earlier command
    (root / "captions").mkdir()
    (root / "captions" / "part-0.parquet").write_bytes(b"rows")  # committed captions
    refused = synclr_process("pretrain", "--root", str(root), "--set", "captions.temperature=0.5", join_ray=True)
    assert refused.code == 1 and len(refused.err.splitlines()) == 1
    assert "captions.temperature: 0.8 -> 0.5" in refused.err and "--allow-change" in refused.err
    allowed = synclr_process(
        "pretrain", "--root", str(root), "--set", "captions.temperature=0.5", "--allow-change", "captions.temperature",
        join_ray=True,
    )  # fmt: skip
    assert NO_IMAGES in allowed.err, allowed.err  # past its config: it joined the cluster and looked for images
    assert yaml.safe_load((root / "config.yaml").read_text())["captions"]["temperature"] == 0.5
