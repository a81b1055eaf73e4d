"""Write serve/config.yaml into the RayService's ``serveConfigV2`` block, leaving the rest of the manifest untouched.

    python cluster/kuberay/embed_serve_config.py

The embedded config is serve/config.yaml with only the values that must differ in a pod
replaced (``KUBERNETES_SITE``): the proxy listens on the pod's address, so the replicas require
the bearer token that the RayService mounts from a Secret, and the encoder and synclr config are
ones every pod can read, sized to the RayService's GPU worker group.
"""

import copy
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SERVE_CONFIG = REPO / "serve" / "config.yaml"
RAYSERVICE = REPO / "cluster" / "kuberay" / "rayservice.yaml"

KUBERNETES_SITE: dict[str, Any] = {
    "host": "0.0.0.0",
    "config": "paper-vitb16",
    "encoder": "s3://BUCKET/synclr/vitb16/export",
    "overrides": [
        "serve.num_gpus=1",
        "serve.autoscaling.max_replicas=8",
        "serve.host=0.0.0.0",
        "serve.auth_token_file=/etc/synclr/serve-token/token",
    ],
}

_BLOCK_KEY = re.compile(r"^(?P<indent> *)serveConfigV2: \|\n", re.MULTILINE)


def for_kubernetes(serve_config: dict[str, Any]) -> dict[str, Any]:
    """The Serve config with the ``KUBERNETES_SITE`` values in place of the local ones."""
    site = copy.deepcopy(serve_config)
    site.setdefault("http_options", {})["host"] = KUBERNETES_SITE["host"]
    for app in site["applications"]:
        app.setdefault("args", {}).update(
            config=KUBERNETES_SITE["config"],
            encoder=KUBERNETES_SITE["encoder"],
            overrides=list(KUBERNETES_SITE["overrides"]),
        )
    return site


def embed(manifest: str, block_text: str) -> str:
    """``manifest`` with the body of its ``serveConfigV2: |`` block replaced by ``block_text``."""
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
    block = "".join(" " * indent + line if line.strip() else "\n" for line in block_text.splitlines(keepends=True))
    return manifest[: key.end()] + block + "".join(lines[consumed:])


def main() -> None:
    """Rewrite cluster/kuberay/rayservice.yaml from serve/config.yaml."""
    serve_config = yaml.safe_load(SERVE_CONFIG.read_text())
    block_text = yaml.safe_dump(for_kubernetes(serve_config), sort_keys=False)
    RAYSERVICE.write_text(embed(RAYSERVICE.read_text(), block_text))
    print(f"embedded {SERVE_CONFIG.relative_to(REPO)} into {RAYSERVICE.relative_to(REPO)}")


if __name__ == "__main__":
    main()
