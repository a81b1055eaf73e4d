import numpy as np
import torch
from gratings import caption_images, write_image_rows

from synclr_ray.config import load_config
from synclr_ray.encoder import export_encoder, load_encoder
from synclr_ray.train.backbone import backbone_model_args
from synclr_ray.train.objective import SynCLR
from synclr_ray.train.stage import run_pretrain

CAPTIONS = 32


def same_caption_neighbour_rate(export_dir: str) -> float:
    """How often an image's nearest neighbour (cosine, exported CLS features) is another image of its caption.

    The images are new draws (other phases and colours) of the training captions' gratings.
    """
    images = [image for caption in caption_images(CAPTIONS, size=64, seed=1) for image in caption]
    features = load_encoder(export_dir).embed(images, normalize=True)
    similarity = features @ features.T
    np.fill_diagonal(similarity, -np.inf)
    captions = np.repeat(np.arange(CAPTIONS), len(images) // CAPTIONS)
    return float((captions[similarity.argmax(1)] == captions).mean())


def test_tiny_pretraining_groups_images_of_a_caption(ray_cluster, tmp_path):
    cfg = load_config("tiny", ["ray.progress_bars=false"])
    write_image_rows(tmp_path / "images", CAPTIONS, size=64)
    torch.manual_seed(cfg.seed)
    size = cfg.train.crops.global_size
    export_encoder(SynCLR(cfg.train).teacher_backbone, str(tmp_path / "init"), image_size=size,
                   model_args=backbone_model_args(cfg.train.backbone, size))  # fmt: skip
    run_pretrain(cfg, str(tmp_path))

    before = same_caption_neighbour_rate(str(tmp_path / "init"))
    after = same_caption_neighbour_rate(str(tmp_path / "export"))
    print(f"same-caption nearest neighbour: random init {before:.3f}, after {cfg.train.steps} steps {after:.3f}")
    assert after >= before + 0.2, (before, after)
