"""Local paths and ``s3://`` URIs behind one small API (pyarrow filesystems).

S3 settings come from the standard AWS environment/config: credentials through the AWS
default chain, ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) for a custom endpoint such as
MinIO or a local test server, ``AWS_REGION``/``AWS_DEFAULT_REGION`` for the region.
``builtin://NAME/...`` URIs name read-only artefacts this package builds once per node
(`synclr_ray.builtin`): they read as the local files of the built artefact.
Writes are atomic: local files are written beside the target and renamed; S3 PUTs are
atomic by nature.
"""

import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs
from filelock import FileLock


def is_s3(uri: str) -> bool:
    """True for ``s3://`` URIs."""
    return uri.startswith("s3://")


def s3_filesystem() -> pafs.S3FileSystem:
    """An S3 filesystem configured from the standard AWS environment."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    kwargs: dict[str, Any] = {}
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    return pafs.S3FileSystem(**kwargs)


def is_builtin(uri: str) -> bool:
    """True for ``builtin://`` URIs (artefacts built once per node, read-only)."""
    return uri.startswith("builtin://")


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding ``uri`` and the path within it (a ``builtin://`` artefact is built first)."""
    if is_s3(uri):
        return s3_filesystem(), uri.removeprefix("s3://").rstrip("/")
    if is_builtin(uri):
        return pafs.LocalFileSystem(), str(local_copy(uri))
    return pafs.LocalFileSystem(), str(Path(uri).expanduser().absolute())


def _writable(uri: str) -> None:
    if is_builtin(uri):
        raise ValueError(f"{uri}: builtin:// artefacts are read-only")


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a local path or URI."""
    out = uri.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def exists(uri: str) -> bool:
    """True if a file or directory exists at ``uri``."""
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def makedirs(uri: str) -> None:
    """Create a directory (a no-op on S3, where prefixes need no creation)."""
    _writable(uri)
    fs, path = filesystem(uri)
    fs.create_dir(path, recursive=True)


def list_files(uri: str, suffix: str = "") -> list[str]:
    """Files under ``uri`` (recursively) whose names end with ``suffix``, sorted, as URIs/paths."""
    fs, path = filesystem(uri)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    prefix = "s3://" if is_s3(uri) else ""
    return sorted(
        prefix + info.path
        for info in infos
        if info.type == pafs.FileType.File and info.path.endswith(suffix) and "/." not in info.path
    )


def read_bytes(uri: str) -> bytes:
    """The whole content of a file."""
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as stream:
        return stream.read()


def read_text(uri: str) -> str:
    """A UTF-8 text file."""
    return read_bytes(uri).decode("utf-8")


def read_json(uri: str) -> Any:
    """A JSON file."""
    return json.loads(read_text(uri))


def write_bytes(uri: str, data: bytes) -> None:
    """Write a file atomically: readers see the old content or the new, never a partial one."""
    _writable(uri)
    fs, path = filesystem(uri)
    parent = path.rsplit("/", 1)[0]
    if is_s3(uri):
        with fs.open_output_stream(path) as stream:
            stream.write(data)
        return
    fs.create_dir(parent, recursive=True)
    tmp = f"{parent}/.{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
    with fs.open_output_stream(tmp) as stream:
        stream.write(data)
    os.replace(tmp, path)


def write_text(uri: str, text: str) -> None:
    """Write a UTF-8 text file atomically."""
    write_bytes(uri, text.encode("utf-8"))


def write_json(uri: str, obj: Any) -> None:
    """Write an indented JSON file atomically."""
    write_text(uri, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def delete(uri: str) -> None:
    """Delete a file or a directory tree if it exists."""
    _writable(uri)
    fs, path = filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif info.type == pafs.FileType.File:
        fs.delete_file(path)


def upload_dir(local_dir: str | Path, uri: str) -> None:
    """Copy a local directory tree to ``uri`` (local or S3)."""
    _writable(uri)
    fs, path = filesystem(uri)
    fs.create_dir(path, recursive=True)
    pafs.copy_files(
        str(Path(local_dir).absolute()), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
    )


def cache_dir() -> Path:
    """Per-node cache for downloaded and built models (``SYNCLR_CACHE`` or ~/.cache/synclr-ray)."""
    root = Path(os.environ.get("SYNCLR_CACHE", Path.home() / ".cache" / "synclr-ray"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def local_copy(uri: str) -> Path:
    """A local directory holding the tree at ``uri``: itself when local, else a node-cached download
    (``s3://``) or build (``builtin://``).

    Concurrent callers on one node (several actors) share one download through a file lock;
    a completed download is marked so later callers skip it.
    """
    if is_builtin(uri):
        from synclr_ray.builtin import local_path  # the builders sit above storage

        return local_path(uri)
    if not is_s3(uri):
        return Path(uri).expanduser().absolute()
    key = uri.removeprefix("s3://").rstrip("/").replace("/", "__")
    target = cache_dir() / "s3" / key
    done = target / ".complete"
    with FileLock(str(target) + ".lock"):
        if not done.exists():
            fs, path = filesystem(uri)
            if fs.get_file_info(path).type != pafs.FileType.Directory:
                raise FileNotFoundError(f"no directory at {uri}")
            target.mkdir(parents=True, exist_ok=True)
            pafs.copy_files(path, str(target), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
            done.touch()
    return target


def model_source(model: str) -> str:
    """What ``from_pretrained`` gets for a model setting: a hub id or local path as given, the node-local
    copy of an ``s3://`` directory, or the node-local build of a ``builtin://`` stand-in."""
    return str(local_copy(model)) if is_s3(model) or is_builtin(model) else model
