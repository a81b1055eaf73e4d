"""The model card of an export: ``README.md`` in Hugging Face's layout, next to the weights.

An export version is already a timm Hub repository (``model.safetensors`` + ``config.json``);
with this card (YAML front matter from `huggingface_hub.ModelCardData`) the version folder
publishes unchanged with ``huggingface_hub.upload_folder`` and loads with
``timm.create_model("hf-hub:USER/REPO", pretrained=True)``. The card says what the weights are
(architecture), how they were made (recipe, config digest: the sha256 of the ``_config.yaml``
beside it), from what (the caption and image generators, their settings, how many images
training read) and under which terms the generators' outputs came; probe results when a probe
of these same weights is known at export time.
"""

import hashlib
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from synclr_ray.config import Config
from synclr_ray.train.checkpoint import TrainState

CARD_FILE = "README.md"
TAGS = ["image-feature-extraction", "timm", "synclr", "self-supervised", "synthetic-data", "vision-transformer"]
# Generators whose licences travel with what they produced: (a name fragment of the model id, licence, note).
GENERATOR_LICENCES = [
    (
        "llama-2",
        "Llama 2 Community License",
        "The captions were written by Llama 2, under the Llama 2 Community License Agreement and its Acceptable "
        "Use Policy (https://ai.meta.com/llama/license/).",
    ),
    (
        "stable-diffusion-v1-5",
        "CreativeML OpenRAIL-M",
        "The training images were drawn by Stable Diffusion 1.5, under the CreativeML OpenRAIL-M licence, whose "
        "use-based restrictions (Attachment A) are to be passed on with derivatives "
        "(https://huggingface.co/spaces/CompVis/stable-diffusion-license).",
    ),
]
STAND_IN = "builtin://"  # the stand-ins this package builds (synclr_ray.builtin)


def licence_notes(model: str) -> tuple[str, str]:
    """(licence name, note) for a generator model id or path."""
    if model.startswith(STAND_IN):
        return "none (stand-in)", "A tiny stand-in built by synclr-ray: no third-party weights."
    for fragment, licence, note in GENERATOR_LICENCES:
        if fragment in model.lower():
            return licence, note
    return "unknown", f"Check the licence of `{model}` before publishing: its outputs are this model's training data."


def config_digest(cfg: Config) -> str:
    """sha256 of the resolved config as saved beside the weights (``_config.yaml``)."""
    return "sha256:" + hashlib.sha256(cfg.to_yaml().encode()).hexdigest()


def _eval_results(probe: dict[str, Any]) -> list[EvalResult]:
    name, linear = probe["dataset"]["name"], probe["models"]["encoder"]["linear"]
    knn = probe["models"]["encoder"]["knn"]
    return [
        EvalResult(
            task_type="image-classification",
            dataset_type=name,
            dataset_name=name,
            dataset_split=probe["split"],
            metric_type="accuracy",
            metric_name=metric,
            metric_value=round(float(value), 4),
        )
        for metric, value in (("linear probe top-1", linear["top1"]), (f"kNN (k={knn['k']}) top-1", knn["top1"]))
    ]


def render(cfg: Config, info: dict[str, Any], state: TrainState, probe: dict[str, Any] | None = None) -> ModelCard:
    """The card of weights described by ``info`` (architecture, image_size, feature_dim, digest) trained to ``state``.

    ``probe`` is a `synclr probe --out` report; it is shown only if it measured these same weights.
    """
    if probe is not None and probe["encoder"]["digest"] != info["digest"]:
        probe = None
    name = f"{cfg.name}-{info['architecture']}-step{state.step}"
    captions, images = cfg.captions, cfg.images
    caption_licence, caption_note = licence_notes(captions.model)
    image_licence, image_note = licence_notes(images.model)
    data = ModelCardData(
        model_name=name,
        library_name="timm",
        pipeline_tag="image-feature-extraction",
        license="other",
        license_name="synthetic-data-generator-licences",
        tags=TAGS,
        eval_results=_eval_results(probe) if probe else None,
    )
    tcfg = cfg.train
    evaluation = (
        f"Linear probe top-1 **{100 * probe['models']['encoder']['linear']['top1']:.1f}%**, "
        f"kNN top-1 **{100 * probe['models']['encoder']['knn']['top1']:.1f}%** on `{probe['dataset']['name']}` "
        f"({probe['split']} split), frozen CLS features (`synclr probe`)."
        if probe
        else "Not measured on these weights at export time: `synclr probe --encoder EXPORT --dataset DATA --out ...`."
    )
    content = f"""---
{data.to_yaml()}
---

# {name}

A ViT image encoder trained only on synthetic data with the SynCLR recipe (Tian et al., 2023, "Learning
Vision from Models Rivals Learning Vision from Data") by synclr-ray: an LLM writes
captions, a text-to-image model draws several images of each, and the ViT learns that images of one caption
belong together.

## Model

| | |
|---|---|
| architecture | `{info["architecture"]}` (timm) |
| input | {info["image_size"]} x {info["image_size"]} RGB |
| embedding | {info["feature_dim"]} floats (CLS token) |
| weights | `model.safetensors`, {info["digest"]} |

```python
import timm
model = timm.create_model("hf-hub:USER/REPO", pretrained=True).eval()  # or "local-dir:PATH/TO/THIS/FOLDER"
```

## Recipe

Multi-positive contrastive loss (the {images.images_per_caption} images of a caption are positives) plus iBOT
masked-patch loss with Sinkhorn-Knopp centring, EMA teacher, multi-crop; the exported weights are the teacher's.
{state.step} steps of {tcfg.batch_captions} captions x {images.images_per_caption} images; {state.records} images
read in training ({state.skipped_steps} steps skipped for non-finite losses, {state.bad_records} undecodable images).
The resolved configuration is `_config.yaml` beside the weights (config digest {config_digest(cfg)}).

## Data provenance

| stage | generator | settings | licence |
|---|---|---|---|
| captions | `{captions.model}` | engine {captions.engine}, temperature {captions.temperature} | {caption_licence} |
| images | `{images.model}` | {images.scheduler}, {images.num_inference_steps} steps, guidance {images.guidance_scale}, {images.resolution} px | {image_licence} |

No real images were used in pretraining.

## Evaluation

{evaluation}

## Licence notes

- {caption_note}
- {image_note}

The licence of these weights is chosen by whoever publishes them; it must respect the terms above.
"""
    return ModelCard(content)


def write_model_card(
    directory: Path, cfg: Config, info: dict[str, Any], state: TrainState, probe: dict[str, Any] | None = None
) -> Path:
    """Write ``README.md`` into a local export directory; returns its path."""
    path = Path(directory) / CARD_FILE
    path.write_text(str(render(cfg, info, state, probe)))
    return path
