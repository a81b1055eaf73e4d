import numpy as np

from synclr_ray.config.eval import EvalConfig
from synclr_ray.eval.datasets import load_dataset
from synclr_ray.eval.features import BASELINE, ENCODER, extract_features


def test_features_do_not_depend_on_batch_size(ray_cluster, tiny_export, colour_folder, colour_features):
    cfg = EvalConfig(batch_size=1, num_gpus=0, pool={"min_size": 1, "max_size": 1})
    one = extract_features(load_dataset(colour_folder).rows, tiny_export, cfg, baseline_seed=7)
    many = colour_features  # batches of 16
    assert one.values[ENCODER].shape == (54, 192)
    assert (one.ids == many.ids).all() and (one.labels == many.labels).all() and (one.splits == many.splits).all()
    for model in (ENCODER, BASELINE):
        np.testing.assert_allclose(one.values[model], many.values[model], atol=1e-4, rtol=1e-4)
    # the baseline is the same architecture with other (seeded) weights
    assert not np.allclose(one.values[ENCODER], one.values[BASELINE], atol=1e-2)
    train_x, train_y = one.split("train")
    assert train_x.shape == (36, 192) and np.bincount(train_y).tolist() == [12, 12, 12]
