"""Versioned encoder exports: every export is a new, immutable directory; ``latest`` names the newest.

Layout of an export root such as ``ROOT/export`` (local or s3://)::

    latest                          text: the name of the newest complete version, written last
    step-00000300-1a2b3c4d/         one version: step and the first 8 hex digits of its content digest
        model.safetensors           timm weights
        config.json                 timm config
        _config.yaml                the resolved synclr config
        _export.json                the version's manifest, written after every other file:
                                    step, digest, sha256 of each file

A version is complete once its manifest exists. Locally it is assembled in a hidden folder and
renamed into place whole; on object stores its files are uploaded first and the manifest
after them. Readers never see a half-written version: a root resolves through ``latest``,
which only ever names complete versions, and a version directory without its manifest is
refused. Node caches of remote versions are keyed by the content digest and checked file by
file against the manifest, so a replica never mixes files of two versions.
"""

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from synclr_ray import storage

LATEST_FILE = "latest"
MANIFEST_FILE = "_export.json"
VERSION_PATTERN = re.compile(r"^step-\d{8}-[0-9a-f]{8}$")


class IncompleteExportError(FileNotFoundError):
    """A version directory whose manifest is missing (its export was interrupted), or that ``latest`` cannot name."""


def file_digest(path: Path) -> str:
    """Hex sha256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _absolute(uri: str) -> str:
    return uri.rstrip("/") if storage.is_remote(uri) else str(Path(uri).expanduser().absolute())


def publish(local_dir: Path, export_root: str, step: int) -> str:
    """Publish the files of ``local_dir`` as the version of ``step`` under ``export_root``, then point
    ``latest`` at it; returns the version's URI. Publishing the same content again only re-points ``latest``."""
    export_root = _absolute(export_root)
    files = {path.name: file_digest(path) for path in sorted(Path(local_dir).iterdir()) if path.is_file()}
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    name = f"step-{step:08d}-{digest[:8]}"
    version = storage.join(export_root, name)
    manifest = {"step": step, "digest": f"sha256:{digest}", "files": files, "created": time.time()}
    if not storage.exists(storage.join(version, MANIFEST_FILE)):
        if storage.is_remote(export_root):
            _upload_version(Path(local_dir), version, files, manifest)
        else:
            _assemble_version(Path(local_dir), export_root, name, files, manifest)
    storage.write_text(storage.join(export_root, LATEST_FILE), name + "\n")
    return version


def _upload_version(local_dir: Path, version: str, files: dict[str, str], manifest: dict[str, Any]) -> None:
    for name in files:
        storage.write_bytes(storage.join(version, name), (local_dir / name).read_bytes())
    storage.write_json(storage.join(version, MANIFEST_FILE), manifest)


def _assemble_version(
    local_dir: Path, export_root: str, name: str, files: dict[str, str], manifest: dict[str, Any]
) -> None:
    storage.make_local_dirs(export_root)
    staging = Path(export_root) / f".{name}.{uuid.uuid4().hex}.tmp"
    try:
        staging.mkdir()
        for file in files:
            shutil.copyfile(local_dir / file, staging / file)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
        storage.sync_tree(str(staging))
        final = Path(export_root) / name
        if final.exists():  # an older layout's leftover: a complete version replaces it whole
            shutil.rmtree(final)
        os.rename(staging, final)
        storage.fsync_dir(export_root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve(uri: str) -> str:
    """The directory an encoder setting names: an export root's ``latest`` version, a complete version
    itself, or any other directory as given (a plain timm export written by other tools)."""
    uri = _absolute(uri)
    latest = storage.join(uri, LATEST_FILE)
    if storage.exists(latest):
        name = storage.read_text(latest).strip()
        version = storage.join(uri, name)
        if not VERSION_PATTERN.match(name) or not storage.exists(storage.join(version, MANIFEST_FILE)):
            raise IncompleteExportError(f"{latest} names {name!r}, which is not a complete export version under {uri}")
        return version
    if VERSION_PATTERN.match(uri.rsplit("/", 1)[-1]) and not storage.exists(storage.join(uri, MANIFEST_FILE)):
        raise IncompleteExportError(
            f"{uri} is an incomplete export version (no {MANIFEST_FILE}: its export was interrupted); "
            f"pass {uri.rsplit('/', 1)[0]} for the latest complete version"
        )
    return uri


def read_manifest(version: str) -> dict[str, Any] | None:
    """The manifest of a version directory, or None for a plain export directory."""
    uri = storage.join(version, MANIFEST_FILE)
    return storage.read_json(uri) if storage.exists(uri) else None


def check_files(directory: Path, manifest: dict[str, Any], source: str) -> None:
    """Raise if a local copy of a version lacks a file or holds other bytes than its manifest says."""
    for name, expected in manifest["files"].items():
        path = directory / name
        if not path.is_file() or file_digest(path) != expected:
            raise IncompleteExportError(f"{source}: {name} is missing or differs from its sha256 in {MANIFEST_FILE}")


def local_export(uri: str) -> tuple[str, Path, dict[str, Any] | None]:
    """Resolve an encoder setting and make it local: ``(version URI, local directory, manifest or None)``.

    A remote version is downloaded once per node into a cache entry named by its content digest
    and checked against its manifest before use; a local version is checked in place.
    """
    version = resolve(uri)
    manifest = read_manifest(version)
    if manifest is None:
        return version, storage.local_copy(version), None
    if storage.is_remote(version):
        digest = manifest["digest"].removeprefix("sha256:")
        local = storage.local_copy(version, digest=digest, verify=lambda d: check_files(d, manifest, version))
    else:
        local = Path(version)
        check_files(local, manifest, version)
    return version, local, manifest
