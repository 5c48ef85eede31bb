"""Versions of stored objects, S3 legal holds and Object Lock retention: deleting an object for
good in a versioned bucket, holding a job's objects, writing the audit chain's checkpoints under
retention. Calls go through the client and error translation of storage/s3.py."""

from __future__ import annotations

from storage.bucket_config import read_setting
from storage.s3 import StorageError, client, translated_errors


def list_versions(bucket: str, prefix: str):
    """Every stored version under `prefix` (delete markers left out), as {"Key", "VersionId",
    "Size", ...}, a page of up to 1,000 per request."""
    params: dict = {"Bucket": bucket, "Prefix": prefix}
    while True:
        with translated_errors(f"list the versions in {bucket}/{prefix}"):
            answer = client().list_object_versions(**params)
        yield from answer.get("Versions", [])
        if not answer.get("IsTruncated"):
            return
        params.update(KeyMarker=answer["NextKeyMarker"],
                      VersionIdMarker=answer.get("NextVersionIdMarker", ""))


def set_legal_hold(bucket: str, key: str, version_id: str, *, on: bool) -> None:
    with translated_errors(f"{'place' if on else 'lift'} the legal hold on {key} in {bucket}"):
        client().put_object_legal_hold(Bucket=bucket, Key=key, VersionId=version_id,
                                       LegalHold={"Status": "ON" if on else "OFF"})


def legal_hold_on(bucket: str, key: str, version_id: str) -> bool:
    answer = read_setting(
        f"read the legal hold on {key} in {bucket}",
        lambda: client().get_object_legal_hold(Bucket=bucket, Key=key, VersionId=version_id),
        when_unset={})
    return answer.get("LegalHold", {}).get("Status") == "ON"


def _held(bucket: str, key: str, version_id: str) -> bool:
    try:
        return legal_hold_on(bucket, key, version_id)
    except StorageError:
        return False


def delete_object_versions(bucket: str, key: str) -> int:
    """Delete the object for good: every stored version and delete marker of exactly this key
    (in a versioned bucket a plain DELETE only hides the data behind a marker). Returns how many
    versions were removed; 0 when there was nothing."""
    removed = 0
    params: dict = {"Bucket": bucket, "Prefix": key}
    while True:
        with translated_errors(f"delete {key} from {bucket}"):
            answer = client().list_object_versions(**params)
        for entry in answer.get("Versions", []) + answer.get("DeleteMarkers", []):
            if entry["Key"] == key:
                delete_version(bucket, key, entry["VersionId"])
                removed += 1
        if not answer.get("IsTruncated"):
            return removed
        params.update(KeyMarker=answer["NextKeyMarker"],
                      VersionIdMarker=answer.get("NextVersionIdMarker", ""))


def object_version_count(bucket: str, key: str) -> int:
    """How many versions (not counting delete markers) the server keeps of exactly this key."""
    with translated_errors(f"list the versions of {key} in {bucket}"):
        answer = client().list_object_versions(Bucket=bucket, Prefix=key)
    return sum(1 for v in answer.get("Versions", []) if v["Key"] == key)


def put_retained_bytes(bucket: str, key: str, data: bytes, *, mode: str, retain_until,
                       content_type: str = "application/json") -> str:
    """A small object written with S3 Object Lock retention (`mode` COMPLIANCE or GOVERNANCE) until
    `retain_until`; returns its version id. The bucket must have Object Lock enabled, or the
    server refuses the write (InvalidRequest)."""
    with translated_errors(f"write {key} to {bucket} under {mode.lower()} retention"):
        answer = client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type,
                                     ObjectLockMode=mode, ObjectLockRetainUntilDate=retain_until,
                                     ChecksumAlgorithm="SHA256")
    return answer.get("VersionId", "")


def get_retained_version(bucket: str, key: str, version_id: str) -> dict:
    """{"body", "lock_mode", "retain_until", "legal_hold"} of one stored version; lock_mode and
    retain_until are None when the version has no retention."""
    with translated_errors(f"read {key} ({version_id}) from {bucket}"):
        answer = client().get_object(Bucket=bucket, Key=key, VersionId=version_id)
        body = answer["Body"].read()
    return {"body": body, "lock_mode": answer.get("ObjectLockMode"),
            "retain_until": answer.get("ObjectLockRetainUntilDate"),
            "legal_hold": answer.get("ObjectLockLegalHoldStatus") == "ON"}


def delete_version(bucket: str, key: str, version_id: str, *,
                   bypass_governance: bool = False) -> None:
    """Delete one stored version for good. The server refuses while retention or a legal hold is
    in force (AccessDenied); a legal hold is named as such (code ObjectLocked)."""
    extra = {"BypassGovernanceRetention": True} if bypass_governance else {}
    try:
        with translated_errors(f"delete version {version_id} of {key} from {bucket}"):
            client().delete_object(Bucket=bucket, Key=key, VersionId=version_id, **extra)
    except StorageError as exc:
        if exc.code == "AccessDenied" and _held(bucket, key, version_id):
            raise StorageError(f"{bucket}/{key} is under an S3 legal hold and cannot be deleted "
                               "until the hold is lifted", code="ObjectLocked") from exc
        raise


def shorten_retention(bucket: str, key: str, version_id: str, *, mode: str, retain_until,
                      bypass_governance: bool = False) -> None:
    """Set a version's retention (what an attacker would try: the server refuses to shorten
    COMPLIANCE retention, and GOVERNANCE retention without the bypass)."""
    extra = {"BypassGovernanceRetention": True} if bypass_governance else {}
    with translated_errors(f"change the retention of {key} in {bucket}"):
        client().put_object_retention(Bucket=bucket, Key=key, VersionId=version_id,
                                      Retention={"Mode": mode, "RetainUntilDate": retain_until},
                                      **extra)
