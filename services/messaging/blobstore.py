"""Blob store port for attachments, keyed by the SHA-256 of the content.

Content addressing makes uploads idempotent (the same bytes land on the same key) and lets
every read prove the bytes are intact: ``get`` hashes what it read and raises
``BlobCorrupted`` when it does not match the key.

Adapters:
- ``LocalBlobStore`` (default): a directory, ``<root>/<aa>/<bb>/<sha256>``, written to a
  temporary file in the same directory, flushed, fsynced and renamed into place, so a reader
  never sees half a file.
- ``S3BlobStore``: an S3-compatible bucket through boto3, imported only when the adapter is
  built (boto3 is not a dependency of the project).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from nameko.exceptions import deserialize_to_instance

from shared.errors import MarketplaceError, NotFound

from .content import sha256_hex

_KEY_RE = re.compile(r"^[0-9a-f]{64}$")


@deserialize_to_instance
class BlobCorrupted(MarketplaceError):
    """The stored bytes no longer hash to their key: the blob was damaged at rest."""

    code = "blob_corrupted"
    http_status = 500


@deserialize_to_instance
class BlobNotFound(NotFound):
    """No blob under that key."""

    code = "blob_not_found"


class BlobStore(Protocol):
    """What the messaging service needs of any blob store."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256 key; storing the same bytes twice is fine."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``, verified; BlobNotFound or BlobCorrupted otherwise."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key`` (not verified)."""
        ...


def check_key(key: str) -> str:
    """Refuse anything but a lowercase hex SHA-256, so a key can never name another path."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(f"not a SHA-256 blob key: {key!r}")
    return key


def verified(key: str, data: bytes) -> bytes:
    """Return ``data`` if it hashes to ``key``, else raise BlobCorrupted."""
    actual = sha256_hex(data)
    if actual != key:
        raise BlobCorrupted(
            f"blob {key} is corrupted", {"expected_sha256": key, "actual_sha256": actual}
        )
    return data


class LocalBlobStore:
    """Blobs as files under ``root``, fanned out by the first two bytes of the hash."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """Where the blob ``key`` lives."""
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        """Store ``data`` atomically; a blob already present and intact is not rewritten."""
        key = sha256_hex(data)
        path = self.path_for(key)
        if path.exists():
            try:
                verified(key, path.read_bytes())
                return key
            except BlobCorrupted:
                pass  # a damaged copy is replaced by the good bytes we have in hand
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        self._fsync_dir(path.parent)
        return key

    def get(self, key: str) -> bytes:
        """Read and verify the blob ``key``."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"blob {key} not found") from None
        return verified(key, data)

    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""
        return self.path_for(key).is_file()

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        # The rename is durable only once the directory entry itself is on disk.
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


class S3BlobStore:
    """Blobs as objects ``<prefix><sha256>`` in an S3-compatible bucket.

    ``client`` may be any object with boto3's ``put_object``/``get_object``/``head_object``;
    without one, boto3 is imported here and a client built from ``client_options`` (such as
    ``endpoint_url``, ``region_name``, credentials).
    """

    def __init__(
        self, bucket: str, prefix: str = "attachments/", client: Any = None, **client_options
    ):
        if client is None:
            try:
                import boto3  # optional: only this adapter needs it
            except ImportError as exc:
                raise RuntimeError("S3BlobStore needs boto3, which is not installed") from exc
            client = boto3.client("s3", **client_options)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _object_key(self, key: str) -> str:
        return f"{self.prefix}{check_key(key)}"

    def put(self, data: bytes) -> str:
        """Upload ``data`` with its SHA-256 sent along, so the store can check it too."""
        key = sha256_hex(data)
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._object_key(key),
            Body=data,
            Metadata={"sha256": key},
        )
        return key

    def get(self, key: str) -> bytes:
        """Download and verify the blob ``key``."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except Exception as exc:  # botocore's ClientError, without importing botocore
            if _is_missing(exc):
                raise BlobNotFound(f"blob {key} not found") from None
            raise
        return verified(key, response["Body"].read())

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


def blob_store_from_config(config: dict[str, Any]) -> BlobStore:
    """Build the configured store: ``{"BLOBSTORE": {"KIND": "local", "ROOT": "..."}}`` by
    default, or ``{"KIND": "s3", "BUCKET": ..., "PREFIX": ..., "ENDPOINT_URL": ...,
    "REGION": ...}``."""
    section = dict(config.get("BLOBSTORE") or {})
    kind = str(section.get("KIND", "local")).lower()
    if kind == "local":
        return LocalBlobStore(section.get("ROOT", "var/messaging/blobs"))
    if kind == "s3":
        options = {}
        if section.get("ENDPOINT_URL"):
            options["endpoint_url"] = section["ENDPOINT_URL"]
        if section.get("REGION"):
            options["region_name"] = section["REGION"]
        return S3BlobStore(
            section["BUCKET"], prefix=section.get("PREFIX", "attachments/"), **options
        )
    raise ValueError(f"unknown blob store kind {kind!r}")
