"""What a downstream run trains and how: the one interface the shared loop, ingest and evaluation use."""

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timm.scheduler.scheduler import Scheduler

from synclr_ray import exports
from synclr_ray.config import Config
from synclr_ray.config.downstream import DownstreamTrainConfig
from synclr_ray.downstream.batches import Augment


class DownstreamTask(ABC):
    """A picklable description of one run, rebuilt identically on every rank and in every evaluation actor.

    ``export_uri`` is the encoder export (local or s3://: an export root, a version or a plain export);
    ``info`` its `load_encoder` description (image size, mean, std), read once on the driver.
    """

    def __init__(self, cfg: Config, export_uri: str, info: dict[str, Any], num_classes: int) -> None:
        self.cfg = cfg
        # One version for the whole run: a resumed run keeps its weights when the root's `latest` moves on.
        self.export_uri = exports.resolve(export_uri)
        self.info = info
        self.num_classes = num_classes

    def local_encoder(self) -> Path:
        """This node's copy of the export version: cached by its content digest and checked against its
        manifest (`exports.local_export`), so a rank never trains from a stale or half-copied version."""
        return exports.local_export(self.export_uri)[1]

    @property
    @abstractmethod
    def section(self) -> DownstreamTrainConfig:
        """The config section with the schedule and scaling of this run."""

    @property
    @abstractmethod
    def augment(self) -> Augment:
        """The training augmentation ``(rows, seed, epoch) -> arrays``, run in Ray tasks (must pickle)."""

    @abstractmethod
    def build(self) -> torch.nn.Module:
        """The whole checkpointed module, with the export's weights in its encoder."""

    @abstractmethod
    def trained(self, module: torch.nn.Module) -> torch.nn.Module:
        """The part of ``module`` that DDP wraps and the optimiser steps."""

    @abstractmethod
    def encoder(self, module: torch.nn.Module) -> torch.nn.Module:
        """The timm ViT inside ``module``, whose blocks get layer-wise lr decay."""

    @abstractmethod
    def scheduler(self, optimizer: torch.optim.Optimizer) -> Scheduler:
        """A timm step scheduler (honours each group's ``lr_scale``)."""

    @abstractmethod
    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
        """The training loss of one batch through ``model`` (the DDP-wrapped trained part)."""

    @abstractmethod
    def after_step(self, module: torch.nn.Module) -> None:
        """Called after every optimiser step (e.g. an EMA update)."""

    @abstractmethod
    def predict(
        self, module: torch.nn.Module, rows: dict[str, np.ndarray], device: torch.device
    ) -> dict[str, np.ndarray]:
        """Evaluation rows (encoded) -> what the score needs, computed by the trained ``module``."""
