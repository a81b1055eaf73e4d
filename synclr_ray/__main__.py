"""``python -m synclr_ray``: the ``synclr`` command."""

from synclr_ray.cli import main

if __name__ == "__main__":
    main()
