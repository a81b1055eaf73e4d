"""Evaluation of exported encoders: linear probe and kNN against a random baseline, the transfer suite, PCA figures.

Entry points: `synclr_ray.eval.probe.run_probe`, `synclr_ray.eval.transfer.run_transfer` and
`synclr_ray.eval.pca.write_pca_figure`. Nothing is imported here, so Ray workers that unpickle a
light function from this package (the dataset labeller) do not import torch.
"""
