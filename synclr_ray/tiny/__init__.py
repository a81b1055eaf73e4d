"""Tiny stand-ins of the real generator and encoder architectures, built once, deterministically."""
