"""The transfer suite's table: per dataset and average, every model side by side, as Markdown, JSON and PNG."""

import io

import numpy as np

from synclr_ray import storage

METRIC_TITLES = {"top1": "top-1", "mean_per_class": "mean per-class"}


def suite_table(
    results: dict[str, dict], metrics: dict[str, str], titles: dict[str, str], averaged: list[str] | None = None
) -> dict:
    """One row per dataset: the linear probe's chosen metric of each model in ``titles``, plus their average.

    ``results`` maps a dataset name to its `synclr_ray.eval.probe.evaluate` output; ``metrics`` maps
    it to ``top1`` or ``mean_per_class``; ``titles`` maps a model key to its column title; the
    average is over the ``averaged`` datasets (default: all).
    """
    rows = []
    for name, result in results.items():
        values = {m: result["models"][m]["linear"][metrics[name]] for m in titles if m in result["models"]}
        rows.append({"dataset": name, "metric": metrics[name], "split": result["split"], "values": values})
    averaged = list(results) if averaged is None else averaged
    if not averaged:
        raise ValueError("transfer.datasets: at least one dataset must count in the average")
    average = {m: float(np.mean([row["values"][m] for row in rows if row["dataset"] in averaged])) for m in titles}
    return {"models": titles, "rows": rows, "average": average, "averaged": averaged}


def to_markdown(table: dict) -> str:
    """A Markdown table, accuracies in percent with one decimal, the average as the last row."""
    titles = table["models"]
    lines = [
        "| dataset | metric | " + " | ".join(titles.values()) + " |",
        "|---|---|" + "---:|" * len(titles),
    ]
    for row in table["rows"]:
        cells = " | ".join(f"{100 * row['values'][m]:.1f}" for m in titles)
        lines.append(f"| {row['dataset']} | {METRIC_TITLES[row['metric']]} | {cells} |")
    cells = " | ".join(f"**{100 * table['average'][m]:.1f}**" for m in titles)
    label = (
        "**average**"
        if len(table["averaged"]) == len(table["rows"])
        else f"**average** ({len(table['averaged'])} of {len(table['rows'])})"
    )
    lines.append(f"| {label} | | {cells} |")
    return "\n".join(lines) + "\n"


def write_bar_chart(table: dict, uri: str) -> str:
    """A grouped bar chart (datasets and the average along x, one bar per model) as a PNG; returns ``uri``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["dataset"] for row in table["rows"]] + ["average"]
    titles = table["models"]
    width = 0.8 / len(titles)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) + 2), 4.0))
    for i, (model, title) in enumerate(titles.items()):
        values = [100 * row["values"][model] for row in table["rows"]] + [100 * table["average"][model]]
        bars = ax.bar(x + (i - (len(titles) - 1) / 2) * width, values, width, label=title)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("linear probe accuracy (%)")
    ax.set_ylim(0, 115)  # room for the legend above full bars
    ax.legend(loc="upper left", fontsize=8, ncols=len(titles))
    ax.set_title("linear transfer")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    storage.write_bytes(uri, buffer.getvalue())
    return uri
