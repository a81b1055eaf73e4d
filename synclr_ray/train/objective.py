"""The SynCLR module: student, EMA teacher and the loss of paper eq. 4 with the ablation switches.

    loss = L(x^g) + (1/n) sum_i L(x^l_i) + L_iBOT(x^g)

Crops are image-major: ``global_crops[i]`` is image i and ``local_crops[i * n + j]`` its local crop j.
"""

import torch
from timm.models import VisionTransformer
from timm.optim import param_groups_weight_decay
from torch import nn

from synclr_ray.config.train import TrainConfig
from synclr_ray.train.backbone import create_backbone, masked_forward_features, patch_grid
from synclr_ray.train.ema import ema_update
from synclr_ray.train.heads import IBOTHead, predictor, projector
from synclr_ray.train.losses.contrastive import multi_positive_loss
from synclr_ray.train.losses.ibot import ibot_loss

LOSS_TERMS = ("contrastive_global", "contrastive_local", "ibot")


class SynCLR(nn.Module):
    """Student (backbone, projector, predictor, iBOT head, mask token) and teacher (backbone, projector, iBOT head).

    With ``loss.ema_teacher`` off there is no separate teacher: the student, run without gradient, plays its part.
    """

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        size = cfg.crops.global_size
        student = {"backbone": create_backbone(cfg.backbone, size)}
        dim = student["backbone"].embed_dim
        student["projector"] = projector(dim, cfg.heads)
        if cfg.loss.ibot:
            student["ibot_head"] = IBOTHead(dim, cfg.heads)
        self.student = nn.ModuleDict(student)
        self.predictor = predictor(cfg.heads)
        self.mask_token = nn.Parameter(torch.zeros(1, dim)) if cfg.loss.ibot else None
        self.grid = patch_grid(self.student_backbone, size)
        self.teacher: nn.ModuleDict | None = None
        if cfg.loss.ema_teacher:
            teacher = {
                "backbone": create_backbone(cfg.backbone, size, drop_path=0.0),
                "projector": projector(dim, cfg.heads),
            }
            if cfg.loss.ibot:
                teacher["ibot_head"] = IBOTHead(dim, cfg.heads)
            self.teacher = nn.ModuleDict(teacher)
            self.teacher.load_state_dict(self.student.state_dict())
            self.teacher.requires_grad_(False)

    @property
    def student_backbone(self) -> VisionTransformer:
        return self.student["backbone"]

    @property
    def teacher_backbone(self) -> VisionTransformer:
        return (self.teacher or self.student)["backbone"]

    def update_teacher(self, momentum: float) -> None:
        """EMA step of the teacher towards the student (nothing to do without an EMA teacher)."""
        if self.teacher is not None:
            ema_update(self.teacher, self.student, momentum)

    def param_groups(self) -> list[dict]:
        """AdamW groups: decayed weights (``apply_wd`` True) and biases, norms and tokens (never decayed)."""
        tokens = [f"student.backbone.{name}" for name in self.student_backbone.no_weight_decay()] + ["mask_token"]
        # timm splits on 1-D params, biases and the listed tokens; the 1.0 only marks the decayed group.
        groups = param_groups_weight_decay(self, weight_decay=1.0, no_weight_decay_list=tokens)
        for group in groups:
            group["apply_wd"] = group["weight_decay"] > 0
            group["weight_decay"] = self.cfg.optim.weight_decay_start if group["apply_wd"] else 0.0
        return groups

    def _check_inputs(
        self,
        global_crops: torch.Tensor,
        local_crops: torch.Tensor | None,
        labels: torch.Tensor,
        masks: torch.Tensor | None,
    ) -> None:
        batch = global_crops.shape[0]
        if labels.shape != (batch,):
            raise ValueError(f"labels must have shape ({batch},) to match global_crops, got {tuple(labels.shape)}")
        num_local = self.cfg.crops.num_local
        if num_local and (local_crops is None or local_crops.shape[0] != batch * num_local):
            got = None if local_crops is None else local_crops.shape[0]
            raise ValueError(f"local_crops must hold {batch} x train.crops.num_local={num_local} crops, got {got}")
        if masks is not None:
            if not self.cfg.loss.ibot:
                raise ValueError("masks given but train.loss.ibot is off")
            grid = self.student_backbone.patch_embed.dynamic_feat_size(tuple(global_crops.shape[-2:]))
            if masks.shape != (batch, grid[0] * grid[1]) or masks.dtype != torch.bool:
                raise ValueError(
                    f"masks must be bool [{batch}, {grid[0] * grid[1]}], got {masks.dtype} {list(masks.shape)}"
                )

    def forward(
        self,
        global_crops: torch.Tensor,
        local_crops: torch.Tensor | None,
        labels: torch.Tensor,
        masks: torch.Tensor | None,
        teacher_temp: float,
    ) -> dict[str, torch.Tensor]:
        """Loss terms and their sum ``loss`` for one rank's batch (labels: caption index, equal = same caption)."""
        self._check_inputs(global_crops, local_crops, labels, masks)
        loss_cfg = self.cfg.loss
        batch = global_crops.shape[0]
        caption_positives = loss_cfg.positives == "caption"
        # Image-level positives: the only candidate of an image is its own global crop, so it must stay in.
        labels = labels if caption_positives else torch.arange(batch, device=labels.device)
        if loss_cfg.ibot and masks is None:
            masks = torch.zeros(batch, self.grid[0] * self.grid[1], dtype=torch.bool, device=global_crops.device)
        prefix = self.student_backbone.num_prefix_tokens
        teacher = self.teacher if self.teacher is not None else self.student
        zero = global_crops.new_zeros((), dtype=torch.float32)

        with torch.no_grad():
            teacher_tokens = teacher["backbone"].forward_features(global_crops)
            keys = teacher["projector"](teacher_tokens[:, 0])
            if loss_cfg.ibot:
                teacher_logits = teacher["ibot_head"](teacher_tokens[:, prefix:][masks])

        tokens = masked_forward_features(self.student_backbone, global_crops, masks, self.mask_token)
        losses = {
            "contrastive_global": multi_positive_loss(
                self._anchors(tokens[:, 0]),
                labels,
                keys,
                labels,
                loss_cfg.contrastive_temp,
                exclude_self=caption_positives,
            )
        }

        losses["contrastive_local"] = zero
        if self.cfg.crops.num_local:
            local_tokens = self.student_backbone.forward_features(local_crops)
            local_labels = labels.repeat_interleave(self.cfg.crops.num_local)
            losses["contrastive_local"] = multi_positive_loss(
                self._anchors(local_tokens[:, 0]),
                local_labels,
                keys,
                labels,
                loss_cfg.contrastive_temp,
                exclude_self=False,
            )

        losses["ibot"] = zero
        if loss_cfg.ibot:
            student_logits = self.student["ibot_head"](tokens[:, prefix:][masks])
            losses["ibot"] = ibot_loss(
                student_logits, teacher_logits, masks, loss_cfg.student_temp, teacher_temp, loss_cfg.sinkhorn_iterations
            )

        losses["loss"] = sum(losses[name] for name in LOSS_TERMS)
        return losses

    def _anchors(self, cls_tokens: torch.Tensor) -> torch.Tensor:
        """Student CLS tokens through projector and predictor (the loss l2-normalises them in float32)."""
        return self.predictor(self.student["projector"](cls_tokens))
