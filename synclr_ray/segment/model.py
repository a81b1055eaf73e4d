"""Segmentation models on an exported timm ViT: transformers' UperNet, or a linear head on patch tokens."""

import torch
from torch import nn
from transformers import TimmBackbone, TimmBackboneConfig, UperNetConfig, UperNetForSemanticSegmentation
from transformers.modeling_outputs import BackboneOutput, SemanticSegmenterOutput

from synclr_ray.config.segment import SegmentConfig
from synclr_ray.segment.miou import IGNORE


def quarter_blocks(depth: int) -> list[int]:
    """The last block of each quarter of a ``depth``-block ViT (0-based): [2, 5, 8, 11] for 12 blocks."""
    return [max(0, round(depth * q / 4) - 1) for q in (1, 2, 3, 4)]


class FeaturePyramid(nn.Module):
    """MAE/BEiT's neck for UperNet on a plain ViT: 4 block outputs at one stride rescaled by 4, 2, 1 and 1/2."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scales = nn.ModuleList([
            nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, 2), nn.BatchNorm2d(dim), nn.GELU(),
                          nn.ConvTranspose2d(dim, dim, 2, 2)),
            nn.ConvTranspose2d(dim, dim, 2, 2),
            nn.Identity(),
            nn.MaxPool2d(2, 2),
        ])  # fmt: skip

    def forward(self, maps: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(scale(x) for scale, x in zip(self.scales, maps, strict=True))

    def rescale_backbone_output(self, module: nn.Module, inputs: tuple, output: BackboneOutput) -> BackboneOutput:
        """A forward hook on the backbone: what UperNet receives is the pyramid."""
        return BackboneOutput(feature_maps=self(output.feature_maps), hidden_states=output.hidden_states)


class UperNetSegmenter(nn.Module):
    """transformers' ``UperNetForSemanticSegmentation`` (PPM + FPN decode head, FCN auxiliary head, their loss)
    on the export as a ``TimmBackbone``, with `FeaturePyramid` between them."""

    def __init__(self, export_dir: str, cfg: SegmentConfig, num_classes: int, depth: int, dim: int) -> None:
        super().__init__()
        backbone_config = TimmBackboneConfig(
            backbone=f"local-dir:{export_dir}", out_indices=cfg.blocks or quarter_blocks(depth)
        )
        config = UperNetConfig(
            backbone_config=backbone_config, num_labels=num_classes, hidden_size=cfg.channels,
            auxiliary_channels=min(256, cfg.channels), auxiliary_loss_weight=cfg.auxiliary_weight,
            use_auxiliary_head=cfg.auxiliary_weight > 0, loss_ignore_index=IGNORE,
        )  # fmt: skip
        self.upernet = UperNetForSemanticSegmentation(config)
        # The config builds a randomly initialised backbone; this one holds the export's weights at the crop size.
        self.upernet.backbone = TimmBackbone(
            backbone_config, pretrained=True, img_size=cfg.crop_size, drop_path_rate=cfg.drop_path
        )
        self.neck = FeaturePyramid(dim)
        # UperNet expects a pyramid but a ViT gives 4 maps at one stride: rescale them before the heads see them.
        self.upernet.backbone.register_forward_hook(self.neck.rescale_backbone_output)
        self.frozen = cfg.freeze_encoder
        if self.frozen:
            self.encoder.requires_grad_(False)

    @property
    def encoder(self) -> nn.Module:
        """The timm ViT inside the backbone wrapper."""
        return self.upernet.backbone._backbone.model

    def train(self, mode: bool = True) -> "UperNetSegmenter":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # a frozen encoder keeps its inference behaviour (no drop path)
        return self

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None) -> SemanticSegmenterOutput:
        return self.upernet(pixel_values=pixel_values, labels=labels)


class LinearSegmenter(nn.Module):
    """A 1x1 convolution (after BatchNorm) on the frozen encoder's last patch tokens, upsampled to the input:
    the quick dense probe (DINOv2's "linear")."""

    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder.requires_grad_(False)
        self.norm = nn.BatchNorm2d(encoder.num_features)
        self.classifier = nn.Conv2d(encoder.num_features, num_classes, 1)

    def train(self, mode: bool = True) -> "LinearSegmenter":
        super().train(mode)
        self.encoder.eval()
        return self

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None) -> SemanticSegmenterOutput:
        with torch.no_grad():
            tokens = self.encoder.forward_features(pixel_values)[:, self.encoder.num_prefix_tokens :]
        rows, cols = self.encoder.patch_embed.dynamic_feat_size(pixel_values.shape[-2:])
        maps = tokens.transpose(1, 2).reshape(len(tokens), -1, rows, cols)
        logits = nn.functional.interpolate(
            self.classifier(self.norm(maps)), size=pixel_values.shape[-2:], mode="bilinear", align_corners=False
        )
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels, ignore_index=IGNORE)
        return SemanticSegmenterOutput(loss=loss, logits=logits)
