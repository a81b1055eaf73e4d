"""Stage 3: SynCLR pretraining (model, objective, data augmentation, Ray Train loop)."""
