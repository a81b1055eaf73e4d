"""The image generator: a callable class holding a diffusers Stable Diffusion pipeline.

Ray Data runs it in an actor pool (the pipeline loads once per actor). Each caption gets all
its images in one row; each image starts from its own seeded noise, so pixels depend on the
seeds alone, not on which captions share a batch.
"""

import logging
from collections import Counter
from typing import Any

import pyarrow as pa
import torch

from synclr_ray import rows
from synclr_ray.config import Config
from synclr_ray.device import resolve
from synclr_ray.images.encoding import encode_image
from synclr_ray.images.model import generator_settings, load_pipeline
from synclr_ray.seeds import image_seeds

log = logging.getLogger(__name__)

_MAX_REASON = 500


class ImageGenerator:
    """Caption rows in, image rows out (`rows.IMAGE_SCHEMA`); captions that cannot be drawn become error rows
    (`generate`), or as a Ray Data UDF are logged and counted by reason on ``drops`` when given (an actor
    with ``dropped(stage, reasons)``)."""

    def __init__(self, cfg: Config, drops: Any = None) -> None:
        self.drops = drops
        self.cfg = cfg.images
        self.run_seed = cfg.seed
        self.device = str(resolve(gpus=self.cfg.num_gpus).device)
        self.pipe = load_pipeline(self.cfg, self.device)
        self.generator_json = generator_settings(self.cfg, self.pipe.unet.dtype)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Ray Data entry point: image rows only; failed captions are logged with their reason."""
        images, errors = self.generate(batch)
        reasons: Counter[str] = Counter()
        for row in errors.select(["caption_id", "error"]).to_pylist():
            log.warning("caption %s dropped: %s", row["caption_id"], row["error"])
            reasons[row["error"].split(":", 1)[0]] += 1  # the exception type, or the rule
        if self.drops is not None and reasons:
            self.drops.dropped.remote("images", dict(reasons))
        return images

    def generate(self, captions: pa.Table) -> tuple[pa.Table, pa.Table]:
        """``(image rows, error rows)`` for caption rows, in batches of ``images.batch_size``.

        A failing batch is retried ``images.retries`` times, then its captions are tried one by
        one so a single bad caption cannot sink its neighbours. When every one of them fails
        alone too, the model rather than the captions is at fault: that raises, so nothing is
        recorded as drawn and a rerun tries again.
        """
        drawn_rows: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        pending = []
        for caption in rows.conform(captions, rows.CAPTION_SCHEMA, "caption rows").to_pylist():
            problem = _invalid(caption)
            if problem:
                failures.append({**caption, "error": problem})
            else:
                pending.append(caption)
        for start in range(0, len(pending), self.cfg.batch_size):
            batch = pending[start : start + self.cfg.batch_size]
            drawn, reason = self._attempt(batch, attempts=1 + self.cfg.retries)
            if drawn is not None:
                drawn_rows += drawn
                continue
            log.warning(
                "batch of %d captions failed %d times (%s); trying them one by one",
                len(batch),
                1 + self.cfg.retries,
                reason,
            )
            alone = [(caption, *self._attempt([caption], attempts=1)) for caption in batch]
            if all(drawn is None for _, drawn, _ in alone):
                raise RuntimeError(
                    f"images.model {self.cfg.model!r} fails on every caption of a batch, alone too: {reason}"
                )
            for caption, drawn, why in alone:
                if drawn is not None:
                    drawn_rows += drawn
                else:
                    failures.append({**caption, "error": why})
        return rows.to_table(drawn_rows, rows.IMAGE_SCHEMA), rows.to_table(failures, rows.ERROR_SCHEMA)

    def _attempt(self, captions: list[dict[str, Any]], attempts: int) -> tuple[list[dict[str, Any]] | None, str]:
        reason = ""
        for _ in range(attempts):
            try:
                return self._draw(captions), ""
            except Exception as exc:  # any failure of the model is recorded, never raised past the batch
                reason = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:_MAX_REASON]
        return None, reason

    @torch.inference_mode()
    def _draw(self, captions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        count = self.cfg.images_per_caption
        seeds = [image_seeds(self.run_seed, c["caption_id"], c["epoch"], count) for c in captions]
        # CPU generators: the initial noise of a seed is the same on every device.
        generators = [torch.Generator().manual_seed(seed) for per_caption in seeds for seed in per_caption]
        output = self.pipe(
            prompt=[c["caption"] for c in captions],
            num_images_per_prompt=count,
            generator=generators,
            guidance_scale=self.cfg.guidance_scale,
            num_inference_steps=self.cfg.num_inference_steps,
            height=self.cfg.resolution,
            width=self.cfg.resolution,
            output_type="pil",
        )
        size = self.cfg.store_size
        encoded = [encode_image(image, size, self.cfg.image_format, self.cfg.quality) for image in output.images]
        return [
            {
                **caption,
                "images": encoded[i * count : (i + 1) * count],
                "seeds": per_image,
                "width": size,
                "height": size,
                "generator": self.generator_json,
            }
            for i, (caption, per_image) in enumerate(zip(captions, seeds, strict=True))
        ]


def _invalid(caption: dict[str, Any]) -> str | None:
    """Why a caption row cannot be drawn at all, or None."""
    if not caption["caption_id"]:
        return "caption_id is empty"
    if not caption["caption"] or not caption["caption"].strip():
        return "caption is empty"
    return None
