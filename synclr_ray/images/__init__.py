"""Stage 2: images from captions with Stable Diffusion 1.5 in a Ray Data actor pool (recipe §2)."""
