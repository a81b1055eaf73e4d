"""``synclr figures`` as a user types it: the paths it drew, or one line saying what to run first."""

import json


def test_figures_prints_what_it_drew_or_what_to_run_first(synclr, tmp_path):
    root = tmp_path / "run"
    empty = synclr("figures", "--root", str(root))
    assert empty.code == 1 and empty.err.count("\n") == 0
    assert empty.err.startswith(f"error: nothing to draw under {root}: run pretrain, pipeline or probe")
    (root / "eval").mkdir(parents=True)
    top1 = {"linear": {"top1": 0.9}, "knn": {"top1": 0.8}}
    probe = {"models": {"encoder": top1, "random-init": top1}, "dataset": {"name": "digits"}, "split": "test"}
    (root / "eval" / "probe.json").write_text(json.dumps(probe))
    drawn = synclr("figures", "--root", str(root))
    assert drawn.code == 0 and drawn.out == str(root / "figures" / "probe.png"), drawn.err
