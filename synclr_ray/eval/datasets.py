"""Labelled image datasets for evaluation, as one Ray dataset of encoded images.

Every dataset has the columns ``id`` (a stable row key), ``image`` (encoded image bytes),
``label`` (class index) and ``split`` (``train``, ``val`` or ``test``). Three sources:

- an ImageFolder tree, local or ``s3://``: ``train/<class>/*`` plus ``val/<class>/*`` or
  ``test/<class>/*``. With both, ``val/`` picks the probe's C and ``test/`` is reported;
  with one of them, it is reported and C is picked on a stratified share of ``train/``.
- a Hugging Face ``DatasetDict`` saved with ``save_to_disk`` (`synclr_ray.eval.hf_datasets`).
- ``digits``: scikit-learn's 1,797 real 8x8 handwritten digits (shipped with the package, no
  download), with a fixed stratified split. The shared encoder preprocessing upsamples them.
"""

import io
from dataclasses import dataclass

import numpy as np
import pyarrow.fs as pafs
import ray
from PIL import Image

from synclr_ray import storage

DIGITS = "digits"
DIGITS_TEST_FRACTION = 0.3
DIGITS_SPLIT_SEED = 0
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class LabelledImages:
    """A dataset ready for feature extraction, with what a report needs to describe it."""

    name: str
    classes: list[str]
    split_sizes: dict[str, int]
    rows: ray.data.Dataset

    def describe(self) -> dict:
        """Name, classes and split sizes, for result files."""
        return {"name": self.name, "classes": self.classes, "splits": self.split_sizes}


def load_dataset(spec: str) -> LabelledImages:
    """``digits``, a saved Hugging Face ``DatasetDict`` or an ImageFolder URI (local or s3://); raises ValueError
    naming what is wrong."""
    from synclr_ray.eval.hf_datasets import is_saved_dataset, saved_dataset

    if spec == DIGITS:
        return digits()
    return saved_dataset(spec) if is_saved_dataset(spec) else image_folder(spec)


def digits() -> LabelledImages:
    """scikit-learn's handwritten digits as 8x8 grayscale PNGs, split 70/30 stratified with a fixed seed."""
    # imported here: Ray workers that unpickle `_label_from_path` should not pay for sklearn
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    pixels = np.round(data.images * (255 / 16)).astype(np.uint8)
    index = np.arange(len(pixels))
    train_idx, test_idx = train_test_split(
        index, test_size=DIGITS_TEST_FRACTION, stratify=data.target, random_state=DIGITS_SPLIT_SEED
    )
    split_of = {int(i): "train" for i in train_idx} | {int(i): "test" for i in test_idx}
    items = [
        {"id": f"digits/{i:04d}", "image": _png(pixels[i]), "label": int(data.target[i]), "split": split_of[i]}
        for i in index.tolist()
    ]
    return LabelledImages(
        name=DIGITS,
        classes=[str(c) for c in data.target_names],
        split_sizes={"train": len(train_idx), "test": len(test_idx)},
        rows=ray.data.from_items(items),
    )


def image_folder(uri: str) -> LabelledImages:
    """An ImageFolder tree with ``train/`` and ``val/`` and/or ``test/`` class folders."""
    fs, root = storage.filesystem(uri)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise ValueError(f"dataset {uri}: no such directory (expected train/ and val/ or test/ class folders)")
    splits = [s for s in ("train", "val", "test") if fs.get_file_info(f"{root}/{s}").type == pafs.FileType.Directory]
    if "train" not in splits or len(splits) < 2:
        raise ValueError(
            f"dataset {uri}: missing split folder: needs train/ and val/ or test/, found {splits or 'none'}"
        )
    files: dict[str, dict[str, list[str]]] = {s: _class_files(fs, f"{root}/{s}", uri) for s in splits}
    classes = sorted(files["train"])
    for split, by_class in files.items():
        if sorted(by_class) != classes:
            raise ValueError(f"dataset {uri}: {split}/ class folders {sorted(by_class)} differ from train/ {classes}")
    paths = [path for by_class in files.values() for class_files in by_class.values() for path in class_files]
    rows = ray.data.read_binary_files(paths, filesystem=fs, include_paths=True).map_batches(
        _label_from_path, fn_kwargs={"class_index": {c: i for i, c in enumerate(classes)}}, batch_format="numpy"
    )
    return LabelledImages(
        name=uri,
        classes=classes,
        split_sizes={s: sum(len(v) for v in by_class.values()) for s, by_class in files.items()},
        rows=rows,
    )


def image_files(uri: str) -> list[str]:
    """Every image file under a folder, at any depth (an ImageFolder with or without splits), sorted; hidden and
    ``_``-prefixed entries are skipped. Raises ValueError if there is none."""
    fs, root = storage.filesystem(uri)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise ValueError(f"{uri}: no such directory")
    files = [
        path
        for path in storage.list_files(uri)
        if path.lower().endswith(IMAGE_EXTENSIONS) and "/_" not in storage.filesystem(path)[1][len(root) :]
    ]
    if not files:
        raise ValueError(f"{uri}: no image files ({', '.join(IMAGE_EXTENSIONS)}) at any depth")
    return files


def _class_files(fs: pafs.FileSystem, split_dir: str, uri: str) -> dict[str, list[str]]:
    """Image files per class folder of one split; every class folder must hold at least one image."""
    by_class: dict[str, list[str]] = {}
    for entry in fs.get_file_info(pafs.FileSelector(split_dir, recursive=True)):
        rel = entry.path[len(split_dir) + 1 :].split("/")
        if rel[0].startswith("."):
            continue
        if entry.type == pafs.FileType.Directory and len(rel) == 1:
            by_class.setdefault(rel[0], [])
        elif entry.type == pafs.FileType.File and len(rel) == 2 and rel[1].lower().endswith(IMAGE_EXTENSIONS):
            by_class.setdefault(rel[0], []).append(entry.path)
    split = split_dir.rsplit("/", 1)[1]
    if not by_class:
        raise ValueError(f"dataset {uri}: {split}/ has no class folders")
    empty = sorted(c for c, paths in by_class.items() if not paths)
    if empty:
        raise ValueError(f"dataset {uri}: empty class folder {split}/{empty[0]} (no image files)")
    return {c: sorted(paths) for c, paths in sorted(by_class.items())}


def _label_from_path(batch: dict[str, np.ndarray], class_index: dict[str, int]) -> dict[str, np.ndarray]:
    parts = [p.rsplit("/", 3) for p in batch["path"]]
    return {
        "id": batch["path"],
        "image": batch["bytes"],
        "label": np.array([class_index[p[-2]] for p in parts], dtype=np.int64),
        "split": np.array([p[-3] for p in parts]),
    }


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return buf.getvalue()
