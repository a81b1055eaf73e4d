"""Downstream training on Ray Train (fine-tuning, segmentation): one step loop, one ingest, one trainer setup.

A task (`synclr_ray.finetune.task`, `synclr_ray.segment.task`) says what is trained and how a batch
is augmented and scored; everything else (DDP, schedules, checkpoints, resume) is shared here.
"""
