"""A run root's figures: PNGs of what it holds (training records, a pipeline report, probe results)."""

import json

from PIL import Image

from synclr_ray.figures import write_run_figures


def _record(step: int) -> dict:
    return {"step": step, "loss": 5.0 / step, "contrastive_global": 2.0 / step, "contrastive_local": 2.0 / step,
            "ibot": 1.0 / step, "lr": 1e-3, "images_per_s": 40.0 + step, "data_wait": 0.1}  # fmt: skip


def test_run_figures_draw_whatever_the_root_holds(tmp_path):
    root = tmp_path / "run"
    assert write_run_figures(str(root)) == []
    (root / "train").mkdir(parents=True)
    (root / "train" / "metrics.jsonl").write_text("".join(json.dumps(_record(s)) + "\n" for s in (10, 20, 30)))
    pipeline = {"step": 30, "stages": {"captions": {"rows": 64, "rows_per_s": 1.5}, "images": {"rows": 64, "rows_per_s": 0.7}},
                "trainer": {"images_per_s": 55.0}}  # fmt: skip
    (root / "pipeline.json").write_text(json.dumps(pipeline))
    top1 = {"linear": {"top1": 0.9}, "knn": {"top1": 0.8}}
    probe = {"models": {"encoder": top1, "random-init": top1}, "dataset": {"name": "digits"}, "split": "test"}
    (root / "eval").mkdir()
    (root / "eval" / "probe.json").write_text(json.dumps(probe))
    drawn = write_run_figures(str(root))
    names = ["training.png", "throughput.png", "probe.png"]
    assert drawn == [str(root / "figures" / name) for name in names]
    for name in names:
        with Image.open(root / "figures" / name) as image:
            assert image.format == "PNG" and image.width > 300
