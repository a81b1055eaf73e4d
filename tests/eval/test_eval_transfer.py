import json

import pytest
from PIL import Image
from shapes import write_toy_folder
from synclr_runs import run_synclr


@pytest.mark.slow
def test_suite_puts_the_toy_encoder_above_random_init_and_reuses_finished_datasets(toy_encoder, tiny_export, tmp_path):
    colours = write_toy_folder(str(tmp_path / "colours"), "colour", {"train": 24, "test": 12}, seed=1)
    out = tmp_path / "suite"
    args = ["transfer", "-e", toy_encoder, "--compare", f"local-dir:{tiny_export}", "-o", str(out),
            "-s", f"transfer.datasets=[{{name: digits}}, {{name: colours, uri: '{colours}', metric: mean_per_class}}]",
            "-s", "eval.probe_cs=[0.01, 0.1, 1.0, 10.0]", "-s", "ray.progress_bars=false"]  # fmt: skip
    first = run_synclr(*args)
    assert first.code == 0, first.err
    table = json.loads((out / "transfer.json").read_text())
    assert list(table["models"].values()) == ["encoder", "random-init", f"local-dir:{tiny_export}"]
    rows = {row["dataset"]: row for row in table["rows"]}
    assert rows["colours"]["metric"] == "mean_per_class" and rows["digits"]["split"] == "test"
    colours_row = rows["colours"]["values"]
    print(
        f"object colour, mean per-class: pretrained {colours_row['encoder']:.3f}, random init {colours_row['baseline']:.3f}"
    )
    assert colours_row["encoder"] >= colours_row["baseline"] + 0.1
    assert "| **average** |" in (out / "transfer.md").read_text() and Image.open(out / "transfer.png").format == "PNG"

    done = {p.name: p.stat().st_mtime_ns for p in (out / "datasets").iterdir()}
    second = run_synclr(*args)
    assert second.code == 0, second.err
    assert {p.name: p.stat().st_mtime_ns for p in (out / "datasets").iterdir()} == done  # nothing recomputed
    assert json.loads((out / "transfer.json").read_text())["rows"] == table["rows"]
