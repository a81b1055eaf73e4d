"""Imports every command module so each registers its subcommands on the app."""

from synclr_ray.cli import (
    captions,  # noqa: F401
    config_cmd,  # noqa: F401
    demo,  # noqa: F401
    embed_dataset,  # noqa: F401
    eval,  # noqa: F401
    figures,  # noqa: F401
    finetune,  # noqa: F401
    images,  # noqa: F401
    models,  # noqa: F401
    pipeline,  # noqa: F401
    segment,  # noqa: F401
    serve,  # noqa: F401
    train,  # noqa: F401
    transfer,  # noqa: F401
)
