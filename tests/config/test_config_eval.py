"""The eval section: the probe's regularisation sweep and the held-out share must make sense."""

import pytest

from synclr_ray.config import ConfigError, load_config


def test_default_sweep_is_nine_decades():
    assert load_config("tiny").eval.probe_cs == [10.0**e for e in range(-4, 5)]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.probe_cs=[]", "must be a non-empty list of positive numbers"),
        ("eval.probe_cs=[1.0, 0]", "must be a non-empty list of positive numbers"),
        ("eval.val_fraction=1", "eval.val_fraction"),
        ("eval.knn_k=0", "eval.knn_k"),
    ],
)
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", [override])
