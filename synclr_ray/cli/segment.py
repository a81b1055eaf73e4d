"""``synclr segment``: semantic segmentation transfer on an ADE20k-layout dataset (paper Table 7)."""

from typing import Annotated

import typer

from synclr_ray.cli.app import ConfigOption, SetOption, StepsOption, app, resolve_config
from synclr_ray.cli.eval import EncoderOption
from synclr_ray.cli.finetune import RunOutOption


@app.command("segment")
def segment(
    encoder: EncoderOption,
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset", "-d", help="ADE20k layout: images/ and annotations/, each with training/ and validation/."
        ),
    ],
    out: RunOutOption,
    steps: StepsOption = None,
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """Train UperNet (or --set segment.head=linear) on the encoder with Ray Train; single-scale mIoU. Resumes from --out."""
    from synclr_ray.segment.stage import run_segment

    result = run_segment(resolve_config(config, overrides, join_ray=True), encoder, dataset, out, steps)
    print(f"{result['head']} head, {'frozen' if result['frozen_encoder'] else 'fine-tuned'} encoder, "
          f"{result['step']} steps: mIoU {100 * result['mIoU']:.1f}, mAcc {100 * result['mAcc']:.1f}, "
          f"aAcc {100 * result['aAcc']:.1f} on validation")  # fmt: skip
    print(f"written: {out}/result.json")
