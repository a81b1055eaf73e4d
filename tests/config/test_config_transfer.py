"""The transfer section: where each dataset of the suite is and which metric it reports."""

import pytest

from synclr_ray.config import ConfigError, load_config
from synclr_ray.config.transfer import TransferConfig


def test_datasets_resolve_under_root_and_name_the_field_when_they_cannot():
    suite = TransferConfig(
        root="s3://b/data/", datasets=[{"name": "pets"}, {"name": "digits"}, {"name": "x", "uri": "/d/x"}]
    )
    assert suite.uris() == {"pets": "s3://b/data/pets", "digits": "digits", "x": "/d/x"}
    with pytest.raises(ValueError, match="transfer.datasets 'pets' has no uri: set its uri or transfer.root"):
        TransferConfig(datasets=[{"name": "pets"}]).uris()
    with pytest.raises(ValueError, match="transfer.datasets is empty"):
        TransferConfig().uris()
    with pytest.raises(ConfigError, match="config field 'transfer.datasets'.*repeated: pets"):
        load_config("tiny", ["transfer.datasets=[{name: pets}, {name: pets}]"])


def test_paper_preset_lists_table_6_with_the_references_metrics():
    datasets = {d.name: d.metric for d in load_config("paper-vitb16").transfer.datasets}
    assert list(datasets) == [
        "imagenet",
        "aircraft",
        "cars",
        "dtd",
        "flowers",
        "pets",
        "sun397",
        "caltech101",
        "food101",
    ]
    assert {n for n, m in datasets.items() if m == "mean_per_class"} == {"aircraft", "flowers", "pets", "caltech101"}
