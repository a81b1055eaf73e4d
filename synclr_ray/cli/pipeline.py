"""``synclr pipeline``: generation streaming straight into training, then the encoder export."""

from synclr_ray.cli.app import (
    AllowChangeOption,
    RootConfigOption,
    RootOption,
    SetOption,
    StepsOption,
    TakeOverOption,
    app,
    resolve_root_config,
)


def print_pipeline_report(report: dict) -> None:
    """Per-stage throughput, the trainer's data-wait fraction, and where things were written."""
    print(
        f"\nstreaming run: step {report['step']} in {report['seconds']:.0f} s ({report['executions']} plan execution(s))"
    )
    for stage, numbers in report["stages"].items():
        dropped = numbers["dropped"]
        why = f" ({', '.join(f'{reason} {n}' for reason, n in sorted(dropped.items()))})" if dropped else ""
        print(f"  {stage:>8}: {numbers['rows']:>6} rows, {numbers['rows_per_s']:.2f} rows/s, "
              f"{sum(dropped.values())} dropped{why}")  # fmt: skip
    trainer = report["trainer"]
    if "images_per_s" in trainer:
        print(f"  trainer : {trainer['images_per_s']:.1f} images/s, data-wait {100 * trainer['data_wait']:.0f}%"
              f" ({'generation-bound: add generators' if trainer['data_wait'] > 0.1 else 'compute-bound'})")  # fmt: skip
    print(f"  skipped : {trainer['skipped_steps']} steps with a non-finite loss, {trainer['bad_records']} bad records")
    if report["regenerated"]:
        print(f"  resumed : {report['regenerated']} stream positions generated again (in flight at a restart)")
    print(f"  checkpoints: {report['train']}\n  encoder: {report['export']}")
    if report["stream"]:
        print(f"  generated rows: {report['stream']}")


@app.command("pipeline")
def pipeline(
    root: RootOption,
    steps: StepsOption = None,
    config: RootConfigOption = None,
    allow_change: AllowChangeOption = None,
    overrides: SetOption = None,
    take_over_stale_lease: TakeOverOption = False,
) -> None:
    """Stream concepts -> captions -> images -> trainer in one execution of one Ray Data plan; resumes from ROOT/train
    (generation resumes at the checkpoint's stream position)."""
    from synclr_ray.pipeline import run_pipeline

    cfg = resolve_root_config(root, config, overrides, allow_change, join_ray=True)
    print_pipeline_report(run_pipeline(cfg, root, steps, take_over_stale_lease=take_over_stale_lease))
