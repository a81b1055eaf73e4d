"""synclr-ray: SynCLR (learning vision from generative models alone) on Ray."""

__version__ = "0.1.0"
