"""Copy serve/config.yaml into the RayService's ``serveConfigV2`` block, leaving the rest untouched.

    python cluster/kuberay/embed_serve_config.py
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVE_CONFIG = REPO / "serve" / "config.yaml"
RAYSERVICE = REPO / "cluster" / "kuberay" / "rayservice.yaml"

_BLOCK_KEY = re.compile(r"^(?P<indent> *)serveConfigV2: \|\n", re.MULTILINE)


def embed(manifest: str, serve_config: str) -> str:
    """``manifest`` with its ``serveConfigV2: |`` block replaced by ``serve_config`` (same text once parsed)."""
    key = _BLOCK_KEY.search(manifest)
    if key is None:
        raise ValueError(f"{RAYSERVICE.name} has no 'serveConfigV2: |' block")
    indent = len(key["indent"]) + 2
    lines = manifest[key.end() :].splitlines(keepends=True)
    # The old block is every following line that is blank or indented deeper than the key.
    consumed = 0
    for line in lines:
        if line.strip() and len(line) - len(line.lstrip(" ")) < indent:
            break
        consumed += 1
    while consumed and not lines[consumed - 1].strip():  # blank lines after the block stay
        consumed -= 1
    if not serve_config.endswith("\n") or serve_config.endswith("\n\n"):
        raise ValueError(f"{SERVE_CONFIG} must end with exactly one newline to embed as a YAML '|' block")
    block = "".join(" " * indent + line if line.strip() else "\n" for line in serve_config.splitlines(keepends=True))
    return manifest[: key.end()] + block + "".join(lines[consumed:])


def main() -> None:
    """Rewrite cluster/kuberay/rayservice.yaml from serve/config.yaml."""
    updated = embed(RAYSERVICE.read_text(), SERVE_CONFIG.read_text())
    RAYSERVICE.write_text(updated)
    print(f"embedded {SERVE_CONFIG.relative_to(REPO)} into {RAYSERVICE.relative_to(REPO)}")


if __name__ == "__main__":
    main()
