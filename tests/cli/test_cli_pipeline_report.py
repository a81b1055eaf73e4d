"""`synclr pipeline`'s summary: per-stage rows and drops by reason, the trainer, and what a restart drew again."""

from synclr_ray.cli.pipeline import print_pipeline_report


def _report(regenerated: int) -> dict:
    return {"step": 8, "seconds": 90.0, "executions": 2, "regenerated": regenerated,
            "stages": {"captions": {"rows": 40, "rows_per_s": 0.5, "dropped": {"too_short": 2, "empty": 1}},
                       "images": {"rows": 38, "rows_per_s": 0.4, "dropped": {}}},
            "trainer": {"images_per_s": 12.0, "data_wait": 0.3, "skipped_steps": 0, "bad_records": 1},
            "train": "r/train", "export": "r/export/step-8", "stream": "r/stream"}  # fmt: skip


def test_the_summary_names_each_stages_drops_and_the_rows_drawn_again(capsys):
    print_pipeline_report(_report(regenerated=5))
    out = capsys.readouterr().out
    assert "captions:     40 rows, 0.50 rows/s, 3 dropped (empty 1, too_short 2)" in out
    assert "images:     38 rows, 0.40 rows/s, 0 dropped\n" in out
    assert "1 bad records" in out and "5 stream positions generated again" in out
    print_pipeline_report(_report(regenerated=0))
    assert "generated again" not in capsys.readouterr().out
