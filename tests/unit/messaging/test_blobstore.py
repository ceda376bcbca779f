"""Blob store: content-addressed, atomic, verified on read (filesystem via tmp_path)."""

from __future__ import annotations

import hashlib
import io
import sys

import pytest

from services.messaging.blobstore import (
    BlobCorrupted,
    BlobNotFound,
    LocalBlobStore,
    S3BlobStore,
    blob_store_from_config,
)


def test_round_trip_with_checksum(tmp_path):
    store = LocalBlobStore(tmp_path)
    data = b"contract draft" * 1000
    key = store.put(data)
    assert key == hashlib.sha256(data).hexdigest()
    assert store.exists(key)
    assert store.get(key) == data


def test_the_same_bytes_are_stored_once(tmp_path):
    store = LocalBlobStore(tmp_path)
    assert store.put(b"x") == store.put(b"x")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1


def test_no_temporary_files_are_left(tmp_path):
    store = LocalBlobStore(tmp_path)
    store.put(b"abc")
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_a_corrupted_blob_is_detected(tmp_path):
    store = LocalBlobStore(tmp_path)
    key = store.put(b"original bytes")
    store.path_for(key).write_bytes(b"tampered bytes")
    with pytest.raises(BlobCorrupted) as err:
        store.get(key)
    assert err.value.details["expected_sha256"] == key


def test_putting_good_bytes_repairs_a_corrupted_blob(tmp_path):
    store = LocalBlobStore(tmp_path)
    key = store.put(b"original")
    store.path_for(key).write_bytes(b"damaged")
    store.put(b"original")
    assert store.get(key) == b"original"


def test_a_missing_blob_is_not_found(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        store.get("0" * 64)
    assert not store.exists("0" * 64)


@pytest.mark.parametrize("key", ["../../etc/passwd", "ABC", "0" * 63, "g" * 64])
def test_keys_that_are_not_hashes_are_refused(tmp_path, key):
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path).get(key)


class FakeS3:
    """An in-memory stand-in honouring the three boto3 calls the adapter uses."""

    class Missing(Exception):
        response = {"Error": {"Code": "NoSuchKey"}}

    def __init__(self):
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket, Key, Body, Metadata):  # noqa: N803 - boto3's names
        self.objects[(Bucket, Key)] = Body

    def get_object(self, Bucket, Key):  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise self.Missing()
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}

    def head_object(self, Bucket, Key):  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise self.Missing()
        return {}


def test_s3_adapter_round_trip_and_corruption():
    client = FakeS3()
    store = S3BlobStore("bucket", client=client)
    key = store.put(b"hello")
    assert store.exists(key) and store.get(key) == b"hello"
    client.objects[("bucket", f"attachments/{key}")] = b"jello"
    with pytest.raises(BlobCorrupted):
        store.get(key)
    with pytest.raises(BlobNotFound):
        store.get("1" * 64)
    assert not store.exists("1" * 64)


def test_the_local_store_is_the_default(tmp_path):
    store = blob_store_from_config({"BLOBSTORE": {"ROOT": str(tmp_path / "blobs")}})
    assert isinstance(store, LocalBlobStore)


def test_s3_without_boto3_says_so(monkeypatch):
    # A None entry in sys.modules makes ``import boto3`` fail, installed or not.
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(RuntimeError, match="boto3"):
        blob_store_from_config({"BLOBSTORE": {"KIND": "s3", "BUCKET": "b"}})


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        blob_store_from_config({"BLOBSTORE": {"KIND": "ftp"}})
