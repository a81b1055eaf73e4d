"""The fixed layout of one experiment under a run root (local dir or s3:// URI)."""

from dataclasses import dataclass
from pathlib import Path

from synclr_ray import storage
from synclr_ray.config import Config

CONFIG_FILE = "_config.yaml"  # metadata in a data folder starts with "_": readers skip it


@dataclass(frozen=True)
class RunRoot:
    """Paths of every stage's output under one root."""

    root: str

    def __post_init__(self) -> None:
        # Ray workers run in other directories: a relative local root must not follow them there.
        if not storage.is_remote(self.root):
            object.__setattr__(self, "root", str(Path(self.root).expanduser().absolute()))

    @property
    def captions(self) -> str:
        return storage.join(self.root, "captions")

    @property
    def images(self) -> str:
        return storage.join(self.root, "images")

    @property
    def train(self) -> str:
        return storage.join(self.root, "train")

    @property
    def export(self) -> str:
        return storage.join(self.root, "export")

    @property
    def eval(self) -> str:
        return storage.join(self.root, "eval")

    @property
    def figures(self) -> str:
        return storage.join(self.root, "figures")

    @property
    def stream(self) -> str:
        """Image rows written through by the streaming pipeline (committed like ROOT/images)."""
        return storage.join(self.root, "stream")


def save_config(cfg: Config, output_dir: str) -> str:
    """Write the resolved config next to an output; returns its URI."""
    uri = storage.join(output_dir, CONFIG_FILE)
    storage.write_text(uri, cfg.to_yaml())
    return uri
