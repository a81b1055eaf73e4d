"""The training run as a picture: loss terms, learning rate and throughput per step (``ROOT/figures/training.png``)."""

import io
import json

from synclr_ray import storage
from synclr_ray.train.objective import LOSS_TERMS


def write_training_figure(metrics_uri: str, out_uri: str) -> str:
    """Draw the records of a ``metrics.jsonl`` (loss and its terms, lr, images/s, data wait) as a PNG; returns ``out_uri``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in storage.read_text(metrics_uri).splitlines() if line.strip()]
    if not records:
        raise ValueError(f"{metrics_uri} holds no training records")
    steps = [r["step"] for r in records]
    fig, (loss_ax, lr_ax, speed_ax) = plt.subplots(1, 3, figsize=(13, 3.6))
    for name in ("loss", *LOSS_TERMS):
        if name in records[0]:
            loss_ax.plot(steps, [r[name] for r in records], label=name, linewidth=2 if name == "loss" else 1)
    loss_ax.set(title="loss", xlabel="step")
    loss_ax.legend(fontsize=8)
    lr_ax.plot(steps, [r["lr"] for r in records])
    lr_ax.set(title="learning rate", xlabel="step")
    speed_ax.plot(steps, [r["images_per_s"] for r in records], label="images/s")
    speed_ax.set(title="throughput (images/s)", xlabel="step")
    wait_ax = speed_ax.twinx()
    wait_ax.plot(steps, [100 * r["data_wait"] for r in records], color="tab:orange", linestyle="--")
    wait_ax.set_ylabel("data wait (%)", color="tab:orange")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    storage.write_bytes(out_uri, buffer.getvalue())
    return out_uri
