"""`synclr figures --root R`: PNGs of what the run root holds (training records, a pipeline report, probe results)."""

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

SYNCLR = str(Path(sys.executable).parent / "synclr")


def _record(step: int) -> dict:
    return {"step": step, "loss": 5.0 / step, "contrastive_global": 2.0 / step, "contrastive_local": 2.0 / step,
            "ibot": 1.0 / step, "lr": 1e-3, "images_per_s": 40.0 + step, "data_wait": 0.1}  # fmt: skip


def test_figures_draws_whatever_the_root_holds(tmp_path):
    root = tmp_path / "run"
    empty = subprocess.run([SYNCLR, "figures", "--root", str(root)], capture_output=True, text=True)
    assert empty.returncode == 1 and "nothing to draw" in empty.stderr
    (root / "train").mkdir(parents=True)
    (root / "train" / "metrics.jsonl").write_text("".join(json.dumps(_record(s)) + "\n" for s in (10, 20, 30)))
    pipeline = {"step": 30, "stages": {"captions": {"rows": 64, "rows_per_s": 1.5}, "images": {"rows": 64, "rows_per_s": 0.7}},
                "trainer": {"images_per_s": 55.0}}  # fmt: skip
    (root / "pipeline.json").write_text(json.dumps(pipeline))
    top1 = {"linear": {"top1": 0.9}, "knn": {"top1": 0.8}}
    probe = {"models": {"encoder": top1, "random-init": top1}, "dataset": {"name": "digits"}, "split": "test"}
    (root / "eval").mkdir()
    (root / "eval" / "probe.json").write_text(json.dumps(probe))
    drawn = subprocess.run([SYNCLR, "figures", "--root", str(root)], capture_output=True, text=True)
    assert drawn.returncode == 0, drawn.stderr
    names = ["training.png", "throughput.png", "probe.png"]
    assert drawn.stdout.split() == [str(root / "figures" / name) for name in names]
    for name in names:
        with Image.open(root / "figures" / name) as image:
            assert image.format == "PNG" and image.width > 300
