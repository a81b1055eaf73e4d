import json

import pytest
from PIL import Image
from shapes import write_shape_folder
from typer.testing import CliRunner

from synclr_ray.cli import app
from synclr_ray.config import ConfigError, load_config
from synclr_ray.config.transfer import TransferConfig
from synclr_ray.eval.table import suite_table, to_markdown, write_bar_chart


def _result(split: str, **top1_by_model: tuple[float, float]) -> dict:
    return {
        "split": split,
        "models": {m: {"linear": {"top1": t, "mean_per_class": c}} for m, (t, c) in top1_by_model.items()},
    }


def test_table_reports_each_datasets_metric_and_their_average(tmp_path):
    results = {
        "pets": _result("test", encoder=(0.9, 0.8), baseline=(0.3, 0.2)),
        "cars": _result("val", encoder=(0.5, 0.4), baseline=(0.1, 0.05)),
    }
    table = suite_table(
        results, {"pets": "mean_per_class", "cars": "top1"}, {"encoder": "encoder", "baseline": "random-init"}
    )
    assert [row["values"] for row in table["rows"]] == [
        {"encoder": 0.8, "baseline": 0.2},
        {"encoder": 0.5, "baseline": 0.1},
    ]
    assert table["average"] == pytest.approx({"encoder": 0.65, "baseline": 0.15})
    lines = to_markdown(table).splitlines()
    assert lines[0] == "| dataset | metric | encoder | random-init |"
    assert lines[2] == "| pets | mean per-class | 80.0 | 20.0 |" and lines[3] == "| cars | top-1 | 50.0 | 10.0 |"
    assert lines[4] == "| **average** | | **65.0** | **15.0** |"
    fine_grained = suite_table(results, {"pets": "top1", "cars": "top1"}, {"encoder": "encoder"}, averaged=["pets"])
    assert fine_grained["average"] == {"encoder": 0.9} and "| **average** (1 of 2) | | **90.0** |" in to_markdown(
        fine_grained
    )
    png = write_bar_chart(table, str(tmp_path / "t.png"))
    assert Image.open(png).size[0] > 400


def test_datasets_resolve_under_root_and_name_the_field_when_they_cannot():
    suite = TransferConfig(
        root="s3://b/data/", datasets=[{"name": "pets"}, {"name": "digits"}, {"name": "x", "uri": "/d/x"}]
    )
    assert suite.uris() == {"pets": "s3://b/data/pets", "digits": "digits", "x": "/d/x"}
    with pytest.raises(ValueError, match="transfer.datasets 'pets' has no uri: set its uri or transfer.root"):
        TransferConfig(datasets=[{"name": "pets"}]).uris()
    with pytest.raises(ValueError, match="transfer.datasets is empty"):
        TransferConfig().uris()
    with pytest.raises(ConfigError, match="config field 'transfer.datasets'.*repeated: pets"):
        load_config("tiny", ["transfer.datasets=[{name: pets}, {name: pets}]"])


def test_paper_preset_lists_table_6_with_the_references_metrics():
    datasets = {d.name: d.metric for d in load_config("paper-vitb16").transfer.datasets}
    assert list(datasets) == [
        "imagenet",
        "aircraft",
        "cars",
        "dtd",
        "flowers",
        "pets",
        "sun397",
        "caltech101",
        "food101",
    ]
    assert {n for n, m in datasets.items() if m == "mean_per_class"} == {"aircraft", "flowers", "pets", "caltech101"}


@pytest.mark.slow
def test_suite_puts_the_shapes_encoder_above_random_init_and_reuses_finished_datasets(
    shapes_encoder, tiny_export, tmp_path
):
    shapes = write_shape_folder(str(tmp_path / "shapes"), {"train": 24, "test": 12}, seed=1)
    out = tmp_path / "suite"
    args = ["transfer", "-e", shapes_encoder, "--compare", f"local-dir:{tiny_export}", "-o", str(out),
            "-s", f"transfer.datasets=[{{name: digits}}, {{name: shapes, uri: '{shapes}', metric: mean_per_class}}]",
            "-s", "eval.probe_cs=[0.01, 0.1, 1.0, 10.0]", "-s", "ray.progress_bars=false"]  # fmt: skip
    first = CliRunner().invoke(app, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    table = json.loads((out / "transfer.json").read_text())
    assert list(table["models"].values()) == ["encoder", "random-init", f"local-dir:{tiny_export}"]
    rows = {row["dataset"]: row for row in table["rows"]}
    assert rows["shapes"]["metric"] == "mean_per_class" and rows["digits"]["split"] == "test"
    shapes_row = rows["shapes"]["values"]
    print(f"shapes, mean per-class: pretrained {shapes_row['encoder']:.3f}, random init {shapes_row['baseline']:.3f}")
    assert shapes_row["encoder"] >= shapes_row["baseline"] + 0.1
    assert "| **average** |" in (out / "transfer.md").read_text() and Image.open(out / "transfer.png").format == "PNG"

    done = {p.name: p.stat().st_mtime_ns for p in (out / "datasets").iterdir()}
    second = CliRunner().invoke(app, args, catch_exceptions=False)
    assert second.exit_code == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "datasets").iterdir()} == done  # nothing recomputed
    assert json.loads((out / "transfer.json").read_text())["rows"] == table["rows"]
