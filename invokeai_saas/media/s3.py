"""The boto3 plumbing of the S3 file stores: one bucket and prefix, typed methods, errors with clear types.

The client is configured the way boto3 reads its environment (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`,
`AWS_DEFAULT_REGION`, the usual credential chain), with path-style addressing so a local SeaweedFS or
MinIO endpoint works, SigV4, bounded retries and timeouts: a stalled store must fail a request, never
hang a worker thread. Keys given to `ObjectStore` are relative to its prefix; it never touches a key
outside that prefix. Nothing here writes a partial file where a reader can see it.
"""

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from invokeai_saas.core.settings import parse_storage_url

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_DELETE_BATCH = 1000  # DeleteObjects' limit per request


class ObjectNotFound(FileNotFoundError):
    """The object does not exist in the bucket."""

    def __init__(self, key: str) -> None:
        super().__init__(f"No such object: {key}")
        self.key = key


class ObjectStoreError(OSError):
    """The store refused or failed an operation other than a missing object."""


def make_client(connect_timeout: float = 10, read_timeout: float = 60, max_attempts: int = 3) -> Any:
    """A boto3 S3 client from the environment (endpoint, region, credentials), path-style, with timeouts."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return boto3.client("s3", config=config)


def presigned_get(client: Any, bucket: str, key: str, expires_s: int, content_type: str | None = None) -> str:
    """A URL that lets its bearer GET one object for `expires_s` seconds; `content_type` overrides the stored one."""
    params: dict[str, str] = {"Bucket": bucket, "Key": key}
    if content_type is not None:
        params["ResponseContentType"] = content_type
    return client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)


def write_atomic(path: Path, data: bytes) -> None:
    """Writes a file so that readers see either nothing or the whole of it (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


class ObjectStore:
    """One bucket and key prefix. `presign_client` signs URLs for a public endpoint when it differs."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", presign_client: Any | None = None) -> None:
        self._client = client
        self._presign_client = presign_client or client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    def from_url(cls, url: str, client: Any | None = None) -> "ObjectStore":
        bucket, prefix = parse_storage_url(url)
        return cls(client or make_client(), bucket, prefix)

    def full_key(self, key: str) -> str:
        key = key.lstrip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._client.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=data, ContentType=content_type)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Uploads a file (multipart when large), for files too big to hold in memory."""
        self._client.upload_file(str(path), self.bucket, self.full_key(key), ExtraArgs={"ContentType": content_type})

    def _get_object(self, key: str) -> Any:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self.full_key(key))
        except ClientError as e:
            if _is_not_found(e):
                raise ObjectNotFound(key) from e
            raise

    def get_bytes(self, key: str) -> bytes:
        response = self._get_object(key)
        with response["Body"] as body:
            return body.read()

    def download(self, key: str, path: Path) -> None:
        """Streams an object into `path`, atomically: a concurrent reader never sees a half-written file."""
        response = self._get_object(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f, response["Body"] as body:
                shutil.copyfileobj(body, f, length=1024 * 1024)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.full_key(key))
            return True
        except ClientError as e:
            if _is_not_found(e):
                return False
            raise

    def delete(self, key: str) -> None:
        """Deletes one object; a missing object is not an error (S3 semantics)."""
        self._client.delete_object(Bucket=self.bucket, Key=self.full_key(key))

    def delete_many(self, keys: Iterable[str]) -> None:
        """Deletes objects in batches; raises `ObjectStoreError` naming every key the store failed to delete."""
        full_keys = list(dict.fromkeys(self.full_key(k) for k in keys))
        failures: list[str] = []
        for start in range(0, len(full_keys), _DELETE_BATCH):
            batch = [{"Key": k} for k in full_keys[start : start + _DELETE_BATCH]]
            response = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            failures += [f"{e.get('Key')}: {e.get('Code')}" for e in response.get("Errors", [])
                         if e.get("Code") not in _NOT_FOUND_CODES]
        if failures:
            raise ObjectStoreError(f"Failed to delete objects: {'; '.join(failures)}")

    def copy(self, src: str, dst: str) -> None:
        """Server-side copy within the bucket (multipart for large objects); no bytes pass through this process."""
        try:
            self._client.copy({"Bucket": self.bucket, "Key": self.full_key(src)}, self.bucket, self.full_key(dst))
        except ClientError as e:
            if _is_not_found(e):
                raise ObjectNotFound(src) from e
            raise

    def presigned_url(self, key: str, expires_s: int = 300, content_type: str | None = None) -> str:
        return presigned_get(self._presign_client, self.bucket, self.full_key(key), expires_s, content_type)

    def ping(self) -> None:
        """Raises unless the bucket answers with these credentials (for the readiness check)."""
        self._client.head_bucket(Bucket=self.bucket)


def object_key(folder: str, name: str, subfolder: str = "") -> str:
    """`folder/subfolder/name`, refusing anything that could step outside `folder` or alias another key."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"Invalid file name, potential directory traversal detected: {name!r}")
    if subfolder:
        if "\\" in subfolder or subfolder.startswith("/"):
            raise ValueError(f"Invalid subfolder: {subfolder!r}")
        # "." would name the same local file as a different key; "" and ".." step out or alias.
        if any(part in ("", ".", "..") for part in subfolder.split("/")):
            raise ValueError(f"Invalid subfolder: {subfolder!r}")
    return "/".join(part for part in (folder, subfolder, name) if part)


class ReadThroughCache:
    """Local copies of objects at `root/<key>`, for the callers whose contract is a file path.

    A copy is downloaded on first use and never trusted over the bucket for existence checks; it can be
    deleted at any time. Writes land atomically, so concurrent readers never see a half file.
    """

    def __init__(self, store: ObjectStore, root: Path) -> None:
        self.store = store
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key

    def fetch(self, key: str) -> Path:
        """The local path of `key`, downloaded first if missing; a missing object leaves no file there."""
        path = self.path(key)
        if not path.exists():
            try:
                self.store.download(key, path)
            except ObjectNotFound:
                pass
        return path

    def put(self, key: str, data: bytes) -> None:
        write_atomic(self.path(key), data)

    def drop(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def key_of(self, path: Path) -> str | None:
        """The key a cache path stands for, or None for a path outside the cache."""
        resolved = path.resolve()
        return resolved.relative_to(self.root).as_posix() if resolved.is_relative_to(self.root) else None
