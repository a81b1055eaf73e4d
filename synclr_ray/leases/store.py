"""Conditional writes of one small object: create-if-absent and compare-and-swap, per storage backend.

A lease needs two guarantees that plain atomic writes do not give: exactly one of several
concurrent creators wins, and a renewal or release changes the object only if it is still the
version the caller last saw. Each backend gets them from its own primitive:

- local disk (or a shared POSIX mount): ``link(2)`` of a fully written, fsynced temporary file
  creates the name exclusively (``EEXIST`` like ``open(O_CREAT | O_EXCL)``, without ever
  exposing a half-written file); compare-and-swap runs under a lock file next to the object.
- S3: ``PutObject`` with ``If-None-Match: *`` creates, ``If-Match: <ETag>`` swaps,
  ``DeleteObject`` with ``If-Match`` releases (HTTP 412 when the condition fails).
- GCS: ``ifGenerationMatch=0`` creates, ``ifGenerationMatch=<generation>`` swaps and deletes
  (HTTP 412 when the condition fails), through google-cloud-storage.
- Azure Blob Storage (``abfs://``): ``Put Blob`` with ``If-None-Match: *`` creates, ``If-Match: <ETag>``
  swaps and deletes (HTTP 409/412 when the condition fails), through azure-storage-blob.

A version token is opaque to callers: the content itself locally, the ETag on S3 and Azure, the
generation on GCS.
"""

import os
import uuid
from pathlib import Path
from typing import Protocol

import boto3
from botocore.exceptions import ClientError
from filelock import FileLock
from google.api_core.exceptions import NotFound, PreconditionFailed

from synclr_ray import storage

# 412: the condition failed; 409: S3 refused a conditional write racing another one on the same key.
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict"}


class ConditionalStore(Protocol):
    """One object that writers create exclusively and change only from the version they last read."""

    uri: str

    def create(self, data: bytes) -> str | None:
        """Write ``data`` if nothing exists yet; its version token, or None if the object exists."""

    def read(self) -> tuple[bytes, str] | None:
        """The content and version token, or None if absent."""

    def replace(self, data: bytes, version: str) -> str | None:
        """Overwrite if the object is still at ``version``; the new token, or None if it changed or vanished."""

    def delete(self, version: str) -> bool:
        """Delete if the object is still at ``version``; False if it changed or vanished."""


class LocalStore:
    """A file on a local or shared POSIX filesystem."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.path = Path(uri).expanduser().absolute()
        # Hidden, so listings of the folder never show it; kept after use (removing it would race other holders).
        self._lock = FileLock(str(self.path.parent / f".{self.path.name}.lock"))

    def _write_temp(self, data: bytes) -> Path:
        storage.make_local_dirs(self.path.parent)
        tmp = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        return tmp

    def create(self, data: bytes) -> str | None:
        tmp = self._write_temp(data)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return None
        finally:
            tmp.unlink()
        storage.fsync_dir(self.path.parent)
        return data.decode("utf-8")

    def read(self) -> tuple[bytes, str] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return data, data.decode("utf-8")

    def replace(self, data: bytes, version: str) -> str | None:
        with self._lock:
            current = self.read()
            if current is None or current[1] != version:
                return None
            tmp = self._write_temp(data)
            os.replace(tmp, self.path)
            storage.fsync_dir(self.path.parent)
        return data.decode("utf-8")

    def delete(self, version: str) -> bool:
        with self._lock:
            current = self.read()
            if current is None or current[1] != version:
                return False
            self.path.unlink()
            storage.fsync_dir(self.path.parent)
        return True


class S3Store:
    """An S3 object, written with conditional requests (boto3 reads the standard AWS environment)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.bucket, _, self.key = uri.removeprefix("s3://").partition("/")
        # boto3 honours AWS_ENDPOINT_URL(_S3), AWS_REGION and the credential chain, like `storage.s3_filesystem`.
        self.client = boto3.client("s3")

    def _conditional(self, call, **kwargs) -> dict | None:
        try:
            return call(Bucket=self.bucket, Key=self.key, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _LOST_RACE | {"NoSuchKey"}:
                return None
            raise

    def create(self, data: bytes) -> str | None:
        response = self._conditional(self.client.put_object, Body=data, IfNoneMatch="*")
        return response["ETag"] if response else None

    def read(self) -> tuple[bytes, str] | None:
        response = self._conditional(self.client.get_object)
        return (response["Body"].read(), response["ETag"]) if response else None

    def replace(self, data: bytes, version: str) -> str | None:
        response = self._conditional(self.client.put_object, Body=data, IfMatch=version)
        return response["ETag"] if response else None

    def delete(self, version: str) -> bool:
        return self._conditional(self.client.delete_object, IfMatch=version) is not None


class GCSStore:
    """A GCS object, written with generation preconditions (google-cloud-storage: Application Default
    Credentials, or anonymous on ``STORAGE_EMULATOR_HOST`` like `storage.gcs_filesystem`)."""

    def __init__(self, uri: str) -> None:
        from google.cloud import storage as gcs  # imported here: only gs:// roots need the client

        self.uri = uri
        bucket, _, self.key = uri.split("://", 1)[1].partition("/")
        self.bucket = gcs.Client().bucket(bucket)

    def _blob(self):
        return self.bucket.blob(self.key)

    def create(self, data: bytes) -> str | None:
        blob = self._blob()
        try:
            blob.upload_from_string(data, if_generation_match=0)
        except PreconditionFailed:
            return None
        return str(blob.generation)

    def read(self) -> tuple[bytes, str] | None:
        blob = self._blob()
        try:
            data = blob.download_as_bytes()  # sets blob.generation from the same response: content and token agree
        except NotFound:
            return None
        return data, str(blob.generation)

    def replace(self, data: bytes, version: str) -> str | None:
        if not version.isdigit():  # no generation: never the object's version
            return None
        blob = self._blob()
        try:
            blob.upload_from_string(data, if_generation_match=int(version))
        except (PreconditionFailed, NotFound):
            return None
        return str(blob.generation)

    def delete(self, version: str) -> bool:
        if not version.isdigit():
            return False
        try:
            self._blob().delete(if_generation_match=int(version))
        except (PreconditionFailed, NotFound):
            return False
        return True


class AzureStore:
    """An Azure blob, written with ETag conditions (azure-storage-blob; the account and credentials as
    `storage.azure_location` finds them)."""

    def __init__(self, uri: str) -> None:
        from azure.storage.blob import BlobServiceClient  # imported here: only abfs:// roots need the client

        self.uri = uri
        account, container, path = storage.azure_location(uri)
        url = account.blob_endpoint or f"https://{account.name}.blob.core.windows.net"
        if account.key:
            credential = {"account_name": account.name, "account_key": account.key}
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self.blob = BlobServiceClient(url, credential=credential).get_blob_client(container, path)

    def _conditional(self, call, version: str | None = None, **kwargs) -> dict | None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        if version is not None:
            kwargs.update(etag=version, match_condition=MatchConditions.IfNotModified)
        try:
            return call(**kwargs) or {}
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return None

    def create(self, data: bytes) -> str | None:
        response = self._conditional(self.blob.upload_blob, data=data, overwrite=False)
        return response["etag"] if response else None

    def read(self) -> tuple[bytes, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            download = self.blob.download_blob()
        except ResourceNotFoundError:
            return None
        return download.readall(), download.properties.etag  # one response: content and token agree

    def replace(self, data: bytes, version: str) -> str | None:
        response = self._conditional(self.blob.upload_blob, version, data=data, overwrite=True)
        return response["etag"] if response else None

    def delete(self, version: str) -> bool:
        return self._conditional(self.blob.delete_blob, version) is not None


_STORES = {"": LocalStore, "s3": S3Store, "gs": GCSStore, "abfs": AzureStore, "abfss": AzureStore}


def require_conditional_writes(uri: str) -> None:
    """Refuse a run root (or lease) on a store without conditional writes, before any work starts there."""
    if storage.scheme(uri) not in _STORES:
        raise ValueError(
            f"{uri}: run roots need conditional writes for their leases, supported on local paths and s3://, gs:// "
            "and abfs:// URIs"
        )


def conditional_store(uri: str) -> ConditionalStore:
    """The conditional-write backend for ``uri``: a local path, an ``s3://``, ``gs://`` or ``abfs://`` URI."""
    require_conditional_writes(uri)
    return _STORES[storage.scheme(uri)](uri)
