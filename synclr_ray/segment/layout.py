"""ADE20k-layout segmentation datasets, local or s3://, as one Ray dataset of encoded image/mask pairs.

The layout of ``ADEChallengeData2016``: ``images/training/NAME.jpg`` with
``annotations/training/NAME.png`` (per-pixel class indices), and the same under ``validation/``.
Rows: ``id`` (``split/NAME``), ``image`` and ``mask`` (encoded bytes), ``split`` (``train`` or ``val``).
"""

from dataclasses import dataclass

import numpy as np
import pyarrow.fs as pafs
import ray

from synclr_ray import storage
from synclr_ray.eval.datasets import IMAGE_EXTENSIONS

SPLITS = {"training": "train", "validation": "val"}
LAYOUT = "images/ and annotations/, each with training/ and validation/"


@dataclass(frozen=True)
class SegmentationImages:
    """A segmentation dataset ready for training and scoring, with what a report needs to describe it."""

    name: str
    split_sizes: dict[str, int]
    rows: ray.data.Dataset

    def describe(self) -> dict:
        """Name and split sizes, for result files."""
        return {"name": self.name, "splits": self.split_sizes}


def ade_layout(uri: str) -> SegmentationImages:
    """Pair every image of ``images/{training,validation}/`` with its annotation; raises ValueError naming the path."""
    fs, root = storage.filesystem(uri)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise ValueError(f"dataset {uri}: no such directory (expected the ADE20k layout: {LAYOUT})")
    prefix = f"{storage.scheme(uri)}://" if storage.is_remote(uri) else ""
    items, sizes = [], {}
    for folder, split in SPLITS.items():
        images = _files(fs, root, f"images/{folder}", uri, IMAGE_EXTENSIONS, "image")
        masks = _files(fs, root, f"annotations/{folder}", uri, (".png",), ".png annotation")
        unmatched = sorted(set(images) - set(masks))
        if unmatched:
            raise ValueError(
                f"dataset {uri}: images/{folder}/{images[unmatched[0]].rsplit('/', 1)[1]} has no annotation "
                f"(expected annotations/{folder}/{unmatched[0]}.png)"
            )
        orphans = sorted(set(masks) - set(images))
        if orphans:
            raise ValueError(f"dataset {uri}: annotations/{folder}/{orphans[0]}.png has no image in images/{folder}/")
        items += [
            {"id": f"{split}/{stem}", "image": prefix + images[stem], "mask": prefix + masks[stem], "split": split}
            for stem in sorted(images)
        ]
        sizes[split] = len(images)
    rows = ray.data.from_items(items).map_batches(_read_pairs, batch_format="numpy")
    return SegmentationImages(name=uri, split_sizes=sizes, rows=rows)


def _files(
    fs: pafs.FileSystem, root: str, relative: str, uri: str, extensions: tuple[str, ...], kind: str
) -> dict[str, str]:
    """File stem -> path of the files with ``extensions`` directly in ``root/relative`` (which must hold some)."""
    directory = f"{root}/{relative}"
    if fs.get_file_info(directory).type != pafs.FileType.Directory:
        raise ValueError(f"dataset {uri}: missing folder {relative}/ (expected the ADE20k layout: {LAYOUT})")
    found = {}
    for entry in fs.get_file_info(pafs.FileSelector(directory)):
        name = entry.path.rsplit("/", 1)[1]
        if entry.type == pafs.FileType.File and not name.startswith(".") and name.lower().endswith(extensions):
            found[name.rsplit(".", 1)[0]] = entry.path
    if not found:
        raise ValueError(f"dataset {uri}: {relative}/ holds no {kind} files")
    return found


def _read_pairs(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "id": batch["id"],
        "image": np.array([storage.read_bytes(u) for u in batch["image"]], dtype=object),
        "mask": np.array([storage.read_bytes(u) for u in batch["mask"]], dtype=object),
        "split": batch["split"],
    }
