"""Evaluation of exported encoders: linear probe and kNN against a random baseline, PCA figures."""

from synclr_ray.eval.pca import write_pca_figure
from synclr_ray.eval.probe import format_report, run_probe

__all__ = ["format_report", "run_probe", "write_pca_figure"]
