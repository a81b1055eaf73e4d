import shutil

import pytest

from synclr_ray.segment.layout import ade_layout
from synclr_ray.segment.synthetic import write_segmentation_set


@pytest.fixture
def scenes(tmp_path) -> str:
    return write_segmentation_set(str(tmp_path / "ade"), train=4, val=2, size=32)


def test_pairs_become_rows_with_split_sizes(ray_cluster, scenes):
    data = ade_layout(scenes)
    assert data.split_sizes == {"train": 4, "val": 2}
    rows = data.rows.take_all()
    assert sorted(r["split"] for r in rows) == ["train"] * 4 + ["val"] * 2
    assert all(r["image"][:3] == b"\xff\xd8\xff" and r["mask"][:4] == b"\x89PNG" for r in rows)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: shutil.rmtree(root), "no such directory (expected the ADE20k layout: images/ and annotations/"),
        (lambda root: shutil.rmtree(root / "annotations" / "validation"), "missing folder annotations/validation/"),
        (lambda root: next((root / "annotations" / "training").iterdir()).unlink(), "has no annotation (expected annotations/training/scene_training_"),
        (lambda root: next((root / "images" / "validation").iterdir()).unlink(), "annotations/validation/scene_validation_"),
        (lambda root: [p.unlink() for p in (root / "images" / "training").iterdir()], "images/training/ holds no image files"),
    ],
)  # fmt: skip
def test_malformed_folders_are_rejected_naming_the_path_and_what_was_expected(scenes, tmp_path, damage, message):
    damage(tmp_path / "ade")
    with pytest.raises(ValueError, match=f"dataset {tmp_path / 'ade'}: .*") as error:
        ade_layout(scenes)
    assert message in str(error.value)
