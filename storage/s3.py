"""The only module that talks to the S3 API (boto3). Everything else asks it.

Errors from boto3 and the network are turned into `StorageError` with a sentence an operator can
act on ("storage rejected the access key ..."), because a raw botocore traceback on a page or in a
command's output tells a lab nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from functools import lru_cache

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from django.conf import settings
from django.core.signals import setting_changed

from storage import credentials
from storage.checksums import HashingStream

NOT_FOUND_CODES = {"404", "NoSuchBucket", "NoSuchKey", "NotFound", "NoSuchUpload"}
NOT_CONFIGURED_CODES = {
    "NoSuchLifecycleConfiguration",
    "NoSuchCORSConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchBucketPolicy",
    "ObjectLockConfigurationNotFoundError",
    "NoSuchObjectLockConfiguration",
    "NoSuchObjectLegalHold",     # SeaweedFS, for a version whose legal hold was never set
}
NOT_SUPPORTED_CODES = {"NotImplemented", "NotSupported", "MethodNotAllowed", "501"}
CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                    "InvalidToken", "ExpiredToken"}


class StorageError(Exception):
    """A storage failure explained in one sentence; `code` is the S3 error code when there is one."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.code = code


class StorageNotSupported(StorageError):
    """The server does not implement an API the portal would like to use."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_not_found(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in NOT_FOUND_CODES


def is_not_configured(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in NOT_CONFIGURED_CODES


def explain(exc: Exception, *, endpoint: str, action: str) -> StorageError:
    error = _explain(exc, endpoint=endpoint, action=action)
    from storage import metric_records   # it reads the models: imported once apps are ready

    metric_records.count_soon("s3_errors", operation=_operation_of(exc),
                              code=error.code or "Unknown")
    return error


def _operation_of(exc: Exception) -> str:
    """The S3 operation (GetObject, PutObject ...) that failed. A ClientError names it; a
    connection error or timeout does not, but the botocore frame that made the call still
    holds it in the traceback (uploads and downloads in s3transfer's threads included)."""
    if getattr(exc, "operation_name", None):
        return exc.operation_name
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_make_api_call":
            name = tb.tb_frame.f_locals.get("operation_name")
            if isinstance(name, str):
                return name
        tb = tb.tb_next
    return "other"


def _explain(exc: Exception, *, endpoint: str, action: str) -> StorageError:
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return StorageError(f"cannot reach the S3 server at {endpoint} while trying to {action}: "
                            "is it running, and is MINIO_ENDPOINT right?", code="Unreachable")
    if isinstance(exc, ReadTimeoutError):
        return StorageError(f"the S3 server at {endpoint} did not answer in time while trying to "
                            f"{action}", code="Timeout")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            return StorageError(f"the S3 server at {endpoint} rejected the credentials ({code}): "
                                "check MINIO_ACCESS_KEY and MINIO_SECRET_KEY", code=code)
        if code in CREDENTIAL_CODES:
            # HEAD answers carry no error body, so a bad key shows up only as a bare 403.
            role = credentials.current_role()
            return StorageError(f"the S3 server at {endpoint} denied access while trying to "
                                f"{action} ({code} {message}): check MINIO_ACCESS_KEY and "
                                "MINIO_SECRET_KEY, and that this key may use the bucket (storage "
                                f"role {role}: MINIO_{role.upper()}_ACCESS_KEY when set, and "
                                f"the policy wes-{role}; see `manage.py storage_policies`)",
                                code=code)
        if code in NOT_SUPPORTED_CODES:
            return StorageNotSupported(f"the S3 server at {endpoint} does not support this: "
                                       f"{action} ({code})", code=code)
        return StorageError(f"the S3 server refused to {action} ({code}): {message}", code=code)
    if isinstance(exc, BotoCoreError):
        return StorageError(f"storage error while trying to {action}: {exc}", code="Client")
    raise exc


@contextlib.contextmanager
def translated_errors(action: str, *, endpoint: str | None = None):
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise explain(exc, endpoint=endpoint or settings.MINIO_ENDPOINT, action=action) from exc


def _config(timeout: int, attempts: int) -> Config:
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=min(timeout, 5),
        read_timeout=timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
    )


@lru_cache(maxsize=16)
def _client(endpoint: str, access_key: str, secret_key: str, region: str, secure: bool,
            timeout: int, attempts: int = 2):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint or None,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        use_ssl=secure,
        config=_config(timeout, attempts),
    )


def client(role: str | None = None):
    """The S3 client for server-side work (provisioning, verifying, publishing), signing with the
    key pair of `role` (default: the current role, storage/credentials.py)."""
    access_key, secret_key = credentials.key_pair(role)
    return _client(settings.MINIO_ENDPOINT, access_key, secret_key,
                   settings.MINIO_REGION, settings.MINIO_SECURE, settings.STORAGE_TIMEOUT_SECONDS)


def probe_client(role: str | None = None):
    """For health checks: one attempt, short timeouts, so a server that hangs is reported in
    seconds (WES_HEALTH_TIMEOUT_SECONDS) instead of holding /healthz for half a minute."""
    access_key, secret_key = credentials.key_pair(role)
    return _client(settings.MINIO_ENDPOINT, access_key, secret_key,
                   settings.MINIO_REGION, settings.MINIO_SECURE, settings.HEALTH_TIMEOUT_SECONDS,
                   attempts=1)


def public_client(role: str | None = None):
    """Signs URLs for browsers: the signature covers the host, so it must be the public one. The
    server checks a presigned request against the signing key's rights, so the URL can do no more
    than that key (the web role's: no deletes)."""
    access_key, secret_key = credentials.key_pair(role)
    return _client(settings.MINIO_PUBLIC_ENDPOINT, access_key, secret_key, settings.MINIO_REGION,
                   settings.MINIO_PUBLIC_ENDPOINT.startswith("https://"),
                   settings.STORAGE_TIMEOUT_SECONDS)


def _forget_clients(**kwargs) -> None:
    if kwargs.get("setting", "").startswith(("MINIO_", "STORAGE_", "HEALTH_", "WES_STORAGE_")):
        _client.cache_clear()


setting_changed.connect(_forget_clients)


def list_bucket_names(*, probe: bool = False) -> set[str]:
    with translated_errors("list buckets"):
        s3 = probe_client() if probe else client()
        return {b["Name"] for b in s3.list_buckets().get("Buckets", [])}


def bucket_located(name: str, *, probe: bool = False) -> bool:
    """Whether the bucket exists, asked with GetBucketLocation: a key that may not list the bucket
    (the web and worker roles) may still ask where it is, and a server that shows a key only the
    buckets it may list (SeaweedFS) leaves the others out of ListBuckets."""
    try:
        with translated_errors(f"look up bucket {name}"):
            (probe_client() if probe else client()).get_bucket_location(Bucket=name)
    except StorageError as exc:
        if exc.code in NOT_FOUND_CODES:
            return False
        raise
    return True


def answer_unless(action: str, call, *, absent, default=None):
    """What `call()` answers, or `default` when the server's refusal is one `absent(exc)` accepts
    (a missing object, a setting the bucket does not have); any other failure is a StorageError
    that says what was being done."""
    try:
        return call()
    except ClientError as exc:
        if absent(exc):
            return default
        raise explain(exc, endpoint=settings.MINIO_ENDPOINT, action=action) from exc
    except BotoCoreError as exc:
        raise explain(exc, endpoint=settings.MINIO_ENDPOINT, action=action) from exc


def unless_missing(action: str, call):
    """What `call()` answers, or None when the bucket, object or upload it names does not exist."""
    return answer_unless(action, call, absent=is_not_found)


def bucket_exists(name: str) -> bool:
    return unless_missing(f"look up bucket {name}",
                          lambda: client().head_bucket(Bucket=name)) is not None


def create_bucket(name: str, *, object_lock: bool = False) -> None:
    params: dict = {"Bucket": name}
    if object_lock:
        # Some servers (MinIO) accept Object Lock only on a bucket created with it.
        params["ObjectLockEnabledForBucket"] = True
    if settings.MINIO_REGION and settings.MINIO_REGION != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": settings.MINIO_REGION}
    with translated_errors(f"create bucket {name}"):
        client().create_bucket(**params)


def list_pages(bucket: str, prefix: str = "", *, delimiter: str = ""):
    """ListObjectsV2 answers, one per request of up to 1,000 keys: each has "Contents"
    ([{"Key", "Size", "LastModified", ...}]) and, with a delimiter, "CommonPrefixes". Listing is
    how storage is counted; one request per object would be a thousand times the round trips."""
    params: dict = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
    if delimiter:
        params["Delimiter"] = delimiter
    while True:
        with translated_errors(f"list {bucket}/{prefix}"):
            answer = client().list_objects_v2(**params)
        yield answer
        if not answer.get("IsTruncated"):
            return
        params["ContinuationToken"] = answer["NextContinuationToken"]


def object_size(bucket: str, key: str) -> int | None:
    """The object's size in bytes, or None when there is no such object."""
    info = object_info(bucket, key)
    return info["size"] if info else None


def open_object(bucket: str, key: str) -> "ObjectBody":
    """A streaming, file-like body of the object (read it in chunks; close it when done)."""
    action = f"read {key} from {bucket}"
    with translated_errors(action):
        return ObjectBody(client().get_object(Bucket=bucket, Key=key)["Body"], action)


class ObjectBody(io.RawIOBase):
    """An object's streaming body whose reads fail as StorageError too: a server that stops
    answering halfway through an object is an outage like any other, not a driver error."""

    def __init__(self, body, action: str):
        super().__init__()
        self.body, self.action = body, action

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        with translated_errors(self.action):
            return self.body.read(size if size is not None and size >= 0 else None)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.body.close()
        super().close()


def set_object_tags(bucket: str, key: str, tags: dict[str, str]) -> None:
    with translated_errors(f"tag {key}"):
        client().put_object_tagging(Bucket=bucket, Key=key, Tagging={
            "TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})


def get_object_tags(bucket: str, key: str) -> dict[str, str]:
    with translated_errors(f"read the tags of {key}"):
        tag_set = client().get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
    return {t["Key"]: t["Value"] for t in tag_set}


def bounded_transfer_config():
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=8 * 1024**2, multipart_chunksize=8 * 1024**2,
                            max_concurrency=4, max_io_queue=8)
    # Not a constructor argument, but s3transfer reads it: parts held in memory while uploading
    # a seekable file object.
    config.max_in_memory_upload_chunks = 4
    return config


def upload_path(bucket: str, key: str, path, *, metadata: dict[str, str] | None = None,
                encrypt: bool = True) -> None:
    extra: dict = {"Metadata": metadata or {}}
    if encrypt:
        extra["ServerSideEncryption"] = "AES256"
    with translated_errors(f"upload {key} to {bucket}"):
        client().upload_file(str(path), bucket, key, ExtraArgs=extra,
                             Config=bounded_transfer_config())


def copy_object(bucket: str, source_key: str, key: str) -> None:
    """A server-side copy within the bucket (multipart above 8 MiB, so any size)."""
    with translated_errors(f"copy {source_key} to {key} in {bucket}"):
        client().copy({"Bucket": bucket, "Key": source_key}, bucket, key,
                      ExtraArgs={"ServerSideEncryption": "AES256"},
                      Config=bounded_transfer_config())


def put_bytes(bucket: str, key: str, data: bytes, *, content_type: str,
              metadata: dict[str, str] | None = None, encrypt: bool = True,
              legal_hold: bool = False) -> None:
    """A small object written in one request (a report PDF); `legal_hold` locks it as written."""
    extra: dict = {"Metadata": metadata or {}, "ContentType": content_type}
    if encrypt:
        extra["ServerSideEncryption"] = "AES256"
    if legal_hold:
        extra["ObjectLockLegalHoldStatus"] = "ON"
    with translated_errors(f"upload {key} to {bucket}"):
        client().put_object(Bucket=bucket, Key=key, Body=data, **extra)


def download_path(bucket: str, key: str, path) -> None:
    with translated_errors(f"download {key} from {bucket}"):
        client().download_file(bucket, key, str(path), Config=bounded_transfer_config())


def object_info(bucket: str, key: str) -> dict | None:
    """{"size", "metadata"} of an object, or None when there is none."""
    head = unless_missing(f"look up {key}", lambda: client().head_object(Bucket=bucket, Key=key))
    if head is None:
        return None
    return {"size": head["ContentLength"], "metadata": head.get("Metadata", {})}


def presign_download(bucket: str, key: str, *, file_name: str, expires_in: int) -> str:
    """A short-lived GET for one object, saved by the browser as `file_name`."""
    disposition = f'attachment; filename="{file_name}"'
    with translated_errors("sign a download"):
        return public_client().generate_presigned_url(
            "get_object", ExpiresIn=expires_in,
            Params={"Bucket": bucket, "Key": key, "ResponseContentDisposition": disposition})


class ObjectWriter(io.RawIOBase):
    """A write-only stream that becomes one object. Bytes are buffered into parts of `part_size`
    and each full part is sent as a part of a multipart upload at once, so writing a 20 GB object
    holds one part in memory, never the object. `close()` completes the object (a single PUT when
    it fits in one part); `abort()` throws away what was sent. `size` and `sha256` describe every
    byte written."""

    def __init__(self, bucket: str, key: str, *, part_size: int,
                 metadata: dict[str, str] | None = None, encrypt: bool = True,
                 content_type: str = "application/octet-stream"):
        super().__init__()
        self.bucket, self.key, self.part_size = bucket, key, part_size
        self.extra: dict = {"Metadata": metadata or {}, "ContentType": content_type}
        if encrypt:
            self.extra["ServerSideEncryption"] = "AES256"
        self.size = 0
        self._digest = hashlib.sha256()
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict] = []
        self._finished = False

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._finished:
            raise ValueError(f"{self.key} is already complete")
        self._buffer += data
        self._digest.update(data)
        self.size += len(data)
        while len(self._buffer) >= self.part_size:
            self._send_part(bytes(self._buffer[:self.part_size]))
            del self._buffer[:self.part_size]
        return len(data)

    def _send_part(self, data: bytes) -> None:
        with translated_errors(f"upload part {len(self._parts) + 1} of {self.key} to "
                               f"{self.bucket}"):
            if self._upload_id is None:
                self._upload_id = client().create_multipart_upload(
                    Bucket=self.bucket, Key=self.key, **self.extra)["UploadId"]
            number = len(self._parts) + 1
            answer = client().upload_part(Bucket=self.bucket, Key=self.key, PartNumber=number,
                                          UploadId=self._upload_id, Body=data)
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def close(self) -> None:
        if not self._finished and not self.closed:
            self._finished = True
            data, self._buffer = bytes(self._buffer), bytearray()
            if self._upload_id is None:
                with translated_errors(f"upload {self.key} to {self.bucket}"):
                    client().put_object(Bucket=self.bucket, Key=self.key, Body=data, **self.extra)
            else:
                if data:
                    self._send_part(data)
                with translated_errors(f"complete an upload to {self.bucket}"):
                    client().complete_multipart_upload(
                        Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts})
        super().close()

    def abort(self) -> None:
        self._finished = True
        self._buffer = bytearray()
        if self._upload_id is not None:   # one already gone is fine
            unless_missing("abort an upload", lambda: client().abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id))
        super().close()


class HashingReader(HashingStream):
    """Reads an object's body (`open_object`) through, counting and hashing every byte."""

    def close(self) -> None:
        super().close()       # flushes through to the body first, so the body closes last
        self.stream.close()

