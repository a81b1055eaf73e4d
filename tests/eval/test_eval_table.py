"""The transfer suite's table: each dataset's metric, the average, Markdown and a bar chart."""

import pytest
from PIL import Image

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
