"""A run root's results as pictures under ``ROOT/figures``: training curves, throughput per stage, probe results."""

import io

from synclr_ray import storage
from synclr_ray.runroot import RunRoot
from synclr_ray.train.figures import write_training_figure
from synclr_ray.train.loop import METRICS_FILE

PIPELINE_REPORT = "pipeline.json"
PROBE_REPORT = "eval/probe.json"


def _save(fig, uri: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    storage.write_bytes(uri, buffer.getvalue())
    return uri


def write_throughput_figure(report: dict, out_uri: str) -> str:
    """Rows/s of each streaming stage and the trainer's images/s (a `synclr pipeline` report) as a bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*report["stages"], "trainer"]
    values = [numbers["rows_per_s"] for numbers in report["stages"].values()]
    values.append(report["trainer"].get("images_per_s", 0.0))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar(names, values, color=["tab:blue"] * (len(names) - 1) + ["tab:green"])
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set(title=f"throughput per stage (step {report['step']})", ylabel="rows/s (trainer: images/s)")
    return _save(fig, out_uri)


def write_probe_figure(report: dict, out_uri: str) -> str:
    """Linear-probe and kNN top-1 of each model of a `synclr probe` report as grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(report["models"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        values = [100 * report["models"][model][probe]["top1"] for probe in ("linear", "knn")]
        bars = ax.bar([j + (i - (len(models) - 1) / 2) * width for j in range(2)], values, width, label=model)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks([0, 1], ["linear probe", "kNN"])
    ax.set(title=f"top-1 on {report['dataset']['name']} ({report['split']})", ylabel="accuracy (%)", ylim=(0, 110))
    ax.legend(fontsize=8)
    return _save(fig, out_uri)


def write_run_figures(root: str) -> list[str]:
    """Draw every figure whose inputs exist under ``root`` into ROOT/figures; returns their URIs."""
    run = RunRoot(root)
    written = []
    metrics = storage.join(run.train, METRICS_FILE)
    if storage.exists(metrics):
        written.append(write_training_figure(metrics, storage.join(run.figures, "training.png")))
    if storage.exists(storage.join(root, PIPELINE_REPORT)):
        report = storage.read_json(storage.join(root, PIPELINE_REPORT))
        written.append(write_throughput_figure(report, storage.join(run.figures, "throughput.png")))
    if storage.exists(storage.join(root, PROBE_REPORT)):
        report = storage.read_json(storage.join(root, PROBE_REPORT))
        written.append(write_probe_figure(report, storage.join(run.figures, "probe.png")))
    return written
