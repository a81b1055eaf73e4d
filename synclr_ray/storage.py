"""Local paths and object-store URIs behind one small API (pyarrow filesystems).

Every scheme pyarrow knows works with the same code (``s3://``, ``gs://``, ``abfs://``,
``hdfs://``, ``file://``), and any other that fsspec knows through pyarrow's fsspec handler.
S3 settings come from the standard AWS environment/config: credentials through the AWS
default chain, ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) for a custom endpoint such as
MinIO or a local test server, ``AWS_REGION``/``AWS_DEFAULT_REGION`` for the region. GCS uses
Application Default Credentials, or ``STORAGE_EMULATOR_HOST`` (the variable Google's own
clients read) for a local emulator. Azure (``abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH``,
or ``abfs://CONTAINER/PATH`` with the account from the environment) uses
``AZURE_STORAGE_CONNECTION_STRING`` (account, key and endpoints: the Azure SDKs' variable, also
how an emulator such as Azurite is named), else ``AZURE_STORAGE_ACCOUNT_KEY`` or the default
Azure credential chain (managed identity, ``az login``).
``builtin://NAME/...`` URIs name read-only artefacts this package builds once per node
(`synclr_ray.builtin`): they read as the local files of the built artefact.
Writes are atomic and durable: local files are written beside the target, fsynced, renamed,
and their directory fsynced, so a commit log written next can never name a file a crash
(or power loss) took back; object-store PUTs are atomic by nature.
"""

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
from filelock import FileLock


def scheme(uri: str) -> str:
    """The URI's scheme (``s3``, ``gs``, ...), or ``""`` for a local path (``file://`` included)."""
    head, sep, _ = uri.partition("://")
    if not sep or "/" in head or head == "file":
        return ""
    return head.lower()


def is_remote(uri: str) -> bool:
    """True for object-store and other remote URIs (anything but a local path or a ``builtin://`` artefact)."""
    return scheme(uri) not in ("", "builtin")


def is_builtin(uri: str) -> bool:
    """True for ``builtin://`` URIs (artefacts built once per node, read-only)."""
    return uri.startswith("builtin://")


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


def gcs_filesystem() -> pafs.GcsFileSystem:
    """A GCS filesystem: Application Default Credentials, or anonymous on ``STORAGE_EMULATOR_HOST``."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if not emulator:
        return pafs.GcsFileSystem()
    parsed = urlparse(emulator if "://" in emulator else f"http://{emulator}")
    return pafs.GcsFileSystem(anonymous=True, endpoint_override=parsed.netloc, scheme=parsed.scheme)


@dataclass(frozen=True)
class AzureAccount:
    """A storage account and how to reach it; ``None`` fields fall back to Azure's defaults."""

    name: str
    key: str | None = None
    blob_endpoint: str | None = None  # e.g. http://127.0.0.1:10000/devstoreaccount1 (Azurite)
    dfs_endpoint: str | None = None


def azure_location(uri: str) -> tuple[AzureAccount, str, str]:
    """The account, container and path within it of an ``abfs://`` or ``abfss://`` URI."""
    netloc, _, path = uri.split("://", 1)[1].partition("/")
    container, at, host = netloc.rpartition("@")
    connection = _connection_string()
    if not at:  # abfs://CONTAINER/PATH: the account comes from the environment
        container = host
        host_account = connection.get("AccountName") or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
        if not host_account:
            raise ValueError(
                f"{uri}: name the account (abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH) or set "
                "AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME"
            )
    else:
        host_account = host.split(".", 1)[0]
    if not container:
        raise ValueError(f"{uri}: no container (abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH)")
    if connection.get("AccountName") == host_account:
        account = AzureAccount(
            host_account, connection.get("AccountKey"), connection.get("BlobEndpoint"), connection.get("DfsEndpoint")
        )
    else:
        account = AzureAccount(host_account, os.environ.get("AZURE_STORAGE_ACCOUNT_KEY"))
    return account, container, path.rstrip("/")


def _connection_string() -> dict[str, str]:
    text = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)


def azure_filesystem(account: AzureAccount) -> pafs.AzureFileSystem:
    """An Azure Blob Storage / ADLS Gen2 filesystem for one account."""
    kwargs: dict[str, Any] = {"account_name": account.name}
    if account.key:
        kwargs["account_key"] = account.key
    for service, endpoint in (("blob", account.blob_endpoint), ("dfs", account.dfs_endpoint or account.blob_endpoint)):
        if endpoint:
            parsed = urlparse(endpoint)
            # Arrow puts the account before an authority that starts with "." (the cloud's host names) and in
            # the path otherwise (emulators).
            host = parsed.netloc
            if host.startswith(f"{account.name}."):
                host = host[len(account.name) :].replace(".blob.", f".{service}.")
            kwargs[f"{service}_storage_authority"] = host
            kwargs[f"{service}_storage_scheme"] = parsed.scheme or "https"
    return pafs.AzureFileSystem(**kwargs)


def _azure(uri: str) -> tuple[pafs.FileSystem, str]:
    account, container, path = azure_location(uri)
    return azure_filesystem(account), f"{container}/{path}".rstrip("/")


# Schemes whose settings come from the environment rather than the URI (endpoints, emulators, regions).
_CONFIGURED = {"s3": s3_filesystem, "gs": gcs_filesystem, "gcs": gcs_filesystem}


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding ``uri`` and the path within it (a ``builtin://`` artefact is built first)."""
    kind = scheme(uri)
    if kind == "builtin":
        from synclr_ray.builtin import local_path  # the builders sit above storage

        return pafs.LocalFileSystem(), str(local_path(uri, must_exist=False))  # exists() may ask for absent paths
    if not kind:
        return pafs.LocalFileSystem(), str(Path(uri.removeprefix("file://")).expanduser().absolute())
    if kind in _CONFIGURED:
        return _CONFIGURED[kind](), uri.split("://", 1)[1].rstrip("/")
    if kind in ("abfs", "abfss"):
        return _azure(uri)
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import fsspec  # schemes pyarrow lacks, through the fsspec implementation registered for them

        spec_fs, path = fsspec.core.url_to_fs(uri)
        fs = pafs.PyFileSystem(pafs.FSSpecHandler(spec_fs))
    return fs, path.rstrip("/")


def ray_paths(uris: list[str]) -> tuple[list[str], pafs.FileSystem | None]:
    """Paths and the filesystem for Ray Data's readers (``read_parquet(paths, filesystem=fs)``): Ray would otherwise
    build a filesystem from the URI alone, missing the environment's endpoints and emulators. All ``uris`` share
    one store (the first one's)."""
    if not uris:
        return [], None
    fs = filesystem(uris[0])[0]
    return [filesystem(uri)[1] for uri in uris], fs


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
    """Files under ``uri`` (recursively) whose names end with ``suffix``, sorted, as URIs/paths.

    Hidden entries below ``uri`` (a ``.``-prefixed file or folder: staging, temporaries) are skipped;
    hidden folders above it (``~/.cache``) are not.
    """
    fs, path = filesystem(uri)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    base = uri.rstrip("/") if is_remote(uri) else path
    relative = (info.path[len(path) :].lstrip("/") for info in infos if info.type == pafs.FileType.File)
    return sorted(join(base, rel) for rel in relative if rel.endswith(suffix) and "/." not in "/" + rel)


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
    if is_remote(uri):
        with fs.open_output_stream(path) as stream:
            stream.write(data)
        return
    parent, name = path.rsplit("/", 1)
    make_local_dirs(parent)
    tmp = f"{parent}/.{name}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)
    fsync_dir(parent)


def move_file(fs: pafs.FileSystem, source: str, destination: str) -> None:
    """Rename a file within one filesystem; copy, then delete, on stores without renames (Azure Blob Storage
    without a hierarchical namespace)."""
    try:
        fs.move(source, destination)
    except pa.ArrowNotImplementedError:
        fs.copy_file(source, destination)
        fs.delete_file(source)


def fsync_dir(path: str | Path) -> None:
    """Make a local directory's entries (files created, renamed or deleted in it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_local_dirs(path: str | Path) -> None:
    """``mkdir -p`` whose new directories survive a crash: each parent is fsynced after its child appears."""
    path = Path(path)
    if path.is_dir():
        return
    make_local_dirs(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def sync_tree(uri: str) -> None:
    """fsync every file and directory under a local tree written by other code (Ray Data, Ray Train)
    before a commit log names it; nothing to do on object stores, whose writes are durable once acknowledged."""
    if is_remote(uri):
        return
    root = Path(filesystem(uri)[1])
    if not root.exists():
        return
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(directory)
    fsync_dir(root.parent)


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
    """Copy a local directory tree to ``uri`` (local or remote); a local copy is fsynced before this returns."""
    _writable(uri)
    fs, path = filesystem(uri)
    if is_remote(uri):
        fs.create_dir(path, recursive=True)
    else:
        make_local_dirs(path)
    pafs.copy_files(
        str(Path(local_dir).absolute()), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
    )
    sync_tree(uri)


def cache_dir() -> Path:
    """Per-node cache for downloaded and built models (``SYNCLR_CACHE`` or ~/.cache/synclr-ray)."""
    root = Path(os.environ.get("SYNCLR_CACHE", Path.home() / ".cache" / "synclr-ray"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def tree_fingerprint(uri: str) -> str:
    """A digest of a remote tree's listing (relative path, size and modification time of every file).

    Rewriting any object changes its modification time, so a changed tree gets a new fingerprint.
    """
    fs, path = filesystem(uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        raise FileNotFoundError(f"no directory at {uri}")
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    listing = sorted(
        (info.path[len(path) + 1 :], info.size, info.mtime_ns) for info in infos if info.type == pafs.FileType.File
    )
    return hashlib.sha256(json.dumps([uri, listing]).encode()).hexdigest()


def local_copy(uri: str, digest: str | None = None, verify: Callable[[Path], None] | None = None) -> Path:
    """A local directory holding the tree at ``uri``: itself when local, else a node-cached download.

    The cache entry is keyed by ``digest`` (a content digest the caller knows, such as an export
    version's) or else by `tree_fingerprint`, so a tree changed on storage is downloaded anew
    and an old copy is never mistaken for it. A download lands in a temporary directory, is
    checked by ``verify`` (which raises on a bad copy), and is renamed into place: an entry that
    exists is complete. Concurrent callers on one node (several actors) share one download
    through a file lock. A ``builtin://`` artefact is built (once per node) instead.
    """
    if is_builtin(uri):
        from synclr_ray.builtin import local_path  # the builders sit above storage

        return local_path(uri)
    if not is_remote(uri):
        return Path(filesystem(uri)[1])
    key = digest or tree_fingerprint(uri)
    target = cache_dir() / "remote" / key
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.is_dir():
            return target
        fs, path = filesystem(uri)
        if fs.get_file_info(path).type != pafs.FileType.Directory:
            raise FileNotFoundError(f"no directory at {uri}")
        staging = target.parent / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            staging.mkdir()
            pafs.copy_files(path, str(staging), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
            if digest is None and tree_fingerprint(uri) != key:
                raise RuntimeError(f"{uri} changed while it was downloaded: retry once its writer has finished")
            if verify is not None:
                verify(staging)
            sync_tree(str(staging))
            os.replace(staging, target)
            fsync_dir(target.parent)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def model_source(model: str) -> str:
    """What ``from_pretrained`` gets for a model setting: a hub id or local path as given, the node-local
    copy of an object-store directory, or the node-local build of a ``builtin://`` stand-in."""
    return str(local_copy(model)) if is_remote(model) or is_builtin(model) else model
