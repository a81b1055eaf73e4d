"""``synclr finetune``: full fine-tuning of an encoder on a classification dataset (paper Appendix C)."""

from typing import Annotated

import typer

from synclr_ray.cli.app import ConfigOption, SetOption, StepsOption, app, resolve_config
from synclr_ray.cli.eval import EncoderOption

ClassificationDataset = Annotated[
    str,
    typer.Option(
        "--dataset",
        "-d",
        help="`digits` (built in), an ImageFolder with train/ and val/ or test/, or a saved Hugging Face "
        "dataset; local or s3://.",
    ),
]
RunOutOption = Annotated[
    str, typer.Option("--out", "-o", help="Run folder (checkpoints, metrics, result.json), local or s3://.")
]


@app.command("finetune")
def finetune(
    encoder: EncoderOption,
    dataset: ClassificationDataset,
    out: RunOutOption,
    steps: StepsOption = None,
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """Fine-tune the whole encoder with a new classifier (Ray Train); top-1 on test/ (else val/). Resumes from --out."""
    from synclr_ray.finetune.stage import run_finetune

    result = run_finetune(resolve_config(config, overrides, join_ray=True), encoder, dataset, out, steps)
    for name, numbers in result["models"].items():
        print(f"{name:>6}: top-1 {100 * numbers['top1']:.1f}%, mean per-class {100 * numbers['mean_per_class']:.1f}%"
              f" on {result['split']} after {result['step']} steps")  # fmt: skip
    print(f"written: {out}/result.json")
