"""Row formats of the image stage: what it reads (caption rows) and what it writes (image rows).

Image row: ``caption_id, caption, concept, concept_source, template`` (copied from the caption
row), ``images`` (``images_per_caption`` encoded JPEG/WebP images: all positives of a caption
travel together), ``seeds`` (the initial-noise seed of each image), ``width``, ``height`` (stored
size) and ``generator`` (JSON of the model id and sampling settings).
A caption that cannot be drawn becomes an error row instead: the caption fields plus ``error``.
"""

import pyarrow as pa

CAPTION_TEXT_COLUMNS = ("caption_id", "caption", "concept", "concept_source", "template")
EPOCH_COLUMN = "epoch"  # optional: the generation epoch of a streaming run (int64), kept on image rows

IMAGE_SCHEMA = pa.schema(
    [
        *((name, pa.string()) for name in CAPTION_TEXT_COLUMNS),
        ("images", pa.list_(pa.binary())),
        ("seeds", pa.list_(pa.int64())),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("generator", pa.string()),
    ]
)

ERROR_SCHEMA = pa.schema([*((name, pa.string()) for name in CAPTION_TEXT_COLUMNS), ("error", pa.string())])
