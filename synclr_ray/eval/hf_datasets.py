"""Hugging Face datasets saved with ``DatasetDict.save_to_disk`` (local or s3://), as labelled image rows.

The saved splits ``train`` plus ``validation`` (or ``val``) and/or ``test`` play the roles of the
ImageFolder splits; the image column is the one with the ``Image`` feature (with the encoded bytes
embedded) and the label column the ``ClassLabel`` one, whose names are the classes.
"""

import numpy as np
import pyarrow as pa
import ray

from synclr_ray import storage
from synclr_ray.eval.datasets import LabelledImages

DICT_FILE = "dataset_dict.json"
SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}


def is_saved_dataset(uri: str) -> bool:
    """True when ``uri`` holds a ``DatasetDict`` written by ``save_to_disk``."""
    return storage.exists(storage.join(uri, DICT_FILE))


def saved_dataset(uri: str) -> LabelledImages:
    """The splits of a saved ``DatasetDict``; raises ValueError naming the dataset and what was expected."""
    from datasets import ClassLabel, Image, load_from_disk

    splits = load_from_disk(str(storage.local_copy(uri)))
    known = {SPLITS[name]: name for name in splits if name in SPLITS}
    if "train" not in known or not {"val", "test"} & set(known):
        raise ValueError(f"dataset {uri}: needs splits train and validation (or val) and/or test, found {list(splits)}")
    features = splits[known["train"]].features
    image = next((name for name, f in features.items() if isinstance(f, Image)), None)
    label = next((name for name, f in features.items() if isinstance(f, ClassLabel)), None)
    if image is None or label is None:
        raise ValueError(f"dataset {uri}: needs an Image column and a ClassLabel column, found {dict(features)}")
    classes = features[label].names
    parts, sizes = [], {}
    for split, name in known.items():
        if splits[name].features[label].names != classes:
            raise ValueError(f"dataset {uri}: split {name} has other classes than train")
        table = splits[name].flatten_indices().data.table.select([image, label])
        table = table.append_column("index", pa.array(np.arange(len(table))))
        parts.append(
            ray.data.from_arrow(table).map_batches(
                _rows, fn_kwargs={"split": split, "image": image, "label": label, "uri": uri}, batch_format="pyarrow"
            )
        )
        sizes[split] = len(table)
    rows = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    return LabelledImages(name=uri, classes=list(classes), split_sizes=sizes, rows=rows)


def _rows(batch: pa.Table, split: str, image: str, label: str, uri: str) -> dict[str, np.ndarray]:
    encoded = batch.column(image).combine_chunks().field("bytes").to_pylist()
    if any(data is None for data in encoded):
        raise ValueError(
            f"dataset {uri}: split {split} stores image paths without bytes (save it with the images embedded)"
        )
    return {
        "id": np.array([f"{split}/{i:09d}" for i in batch.column("index").to_pylist()]),
        "image": np.array(encoded, dtype=object),
        "label": batch.column(label).to_numpy().astype(np.int64),
        "split": np.full(len(encoded), split),
    }
