"""A secret from the cloud's secret store, written to a file when a node starts.

    python -m synclr_ray.secrets aws:synclr/ray-auth-token ~/.ray/auth_token
    python -m synclr_ray.secrets gcp:synclr-serve-token ~/.synclr/serve-token

``aws:NAME`` reads AWS Secrets Manager with the node's instance profile (region from
``AWS_REGION``); ``gcp:NAME`` (the VM's own project) or ``gcp:projects/P/secrets/NAME[/versions/V]``
reads Secret Manager with the VM's service account, through the metadata server. This is how
the cluster YAMLs deliver the Ray token and the Serve token to every node: as files, never as
environment variables or runtime envs (the dashboard shows those), and never printed.
"""

import base64
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

GCP_SECRET_MANAGER = "https://secretmanager.googleapis.com/v1"


def read_secret(ref: str, gcp_api: str = GCP_SECRET_MANAGER) -> str:
    """The secret named by ``ref`` (``aws:NAME`` or ``gcp:NAME``); errors name the secret, never its value."""
    store, _, name = ref.partition(":")
    if store == "aws" and name:
        return _read_aws(name)
    if store == "gcp" and name:
        return _read_gcp(name, gcp_api)
    raise ValueError(f"secret {ref!r}: expected aws:NAME, gcp:NAME or gcp:projects/PROJECT/secrets/NAME")


def write_secret(ref: str, path: str | Path, gcp_api: str = GCP_SECRET_MANAGER) -> Path:
    """Write the secret to ``path`` (mode 0600, atomically: a reader sees the old file or the new one)."""
    value = read_secret(ref, gcp_api).strip()
    if not value:
        raise ValueError(f"secret {ref} is empty")
    target = Path(path).expanduser()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")  # created 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(value)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _read_aws(name: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = boto3.client("secretsmanager").get_secret_value(SecretId=name)
    except (BotoCoreError, ClientError) as exc:
        raise RuntimeError(f"secret aws:{name}: {exc}") from None
    if "SecretString" not in answer:
        raise ValueError(f"secret aws:{name} holds binary data: store the token as a string")
    return answer["SecretString"]


def _read_gcp(name: str, api: str) -> str:
    metadata = f"http://{os.environ.get('GCE_METADATA_HOST', 'metadata.google.internal')}/computeMetadata/v1"
    on_vm = {"Metadata-Flavor": "Google"}
    if not name.startswith("projects/"):
        name = f"projects/{_get(f'{metadata}/project/project-id', on_vm).decode()}/secrets/{name}"
    if "/versions/" not in name:
        name += "/versions/latest"
    token = json.loads(_get(f"{metadata}/instance/service-accounts/default/token", on_vm))["access_token"]
    answer = json.loads(_get(f"{api}/{name}:access", {"Authorization": f"Bearer {token}"}))
    return base64.b64decode(answer["payload"]["data"]).decode()


def _get(url: str, headers: dict[str, str]) -> bytes:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise RuntimeError(f"{url}: {exc.reason}") from None


def main(argv: list[str] | None = None) -> int:
    """``python -m synclr_ray.secrets REF PATH``: one line on success or failure, never the secret."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m synclr_ray.secrets aws:NAME|gcp:NAME PATH", file=sys.stderr)
        return 2
    try:
        path = write_secret(args[0], args[1])
    except Exception as exc:  # one line for the node's setup log
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote secret {args[0]} to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
