"""The linear transfer suite (paper Table 6): which datasets, where, and which metric each reports."""

from typing import Literal

from pydantic import Field, field_validator

from synclr_ray.config.base import Section


class TransferDataset(Section):
    """One dataset of the suite."""

    name: str = Field(min_length=1, description="Row name in the table; `digits` is the built-in set.")
    uri: str | None = Field(
        None, description="ImageFolder or saved Hugging Face dataset, local or s3:// (default: transfer.root/name)."
    )
    metric: Literal["top1", "mean_per_class"] = Field(
        "top1", description="The number the table reports (the paper uses mean per-class accuracy for some sets)."
    )
    average: bool = Field(True, description="Counted in the table's average (Table 6 averages the fine-grained sets).")


class TransferConfig(Section):
    """Datasets probed by `synclr transfer`, each with the linear probe of the eval section."""

    root: str | None = Field(None, description="Folder holding the datasets by name, local or s3://.")
    datasets: list[TransferDataset] = Field(default_factory=list)

    @field_validator("datasets")
    @classmethod
    def _unique_names(cls, datasets: list[TransferDataset]) -> list[TransferDataset]:
        names = [d.name for d in datasets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"dataset names must be unique, repeated: {', '.join(duplicates)}")
        return datasets

    def uris(self) -> dict[str, str]:
        """Dataset name -> URI; raises ValueError naming the config field when a URI cannot be resolved."""
        if not self.datasets:
            raise ValueError("transfer.datasets is empty: name at least one dataset")
        out = {}
        for dataset in self.datasets:
            if dataset.uri is not None:
                out[dataset.name] = dataset.uri
            elif dataset.name == "digits":
                out[dataset.name] = "digits"
            elif self.root is None:
                raise ValueError(f"transfer.datasets '{dataset.name}' has no uri: set its uri or transfer.root")
            else:
                out[dataset.name] = f"{self.root.rstrip('/')}/{dataset.name}"
        return out
