"""Each storage role's key against a real S3 server (SeaweedFS) started with the identities that
`storage/policies.py` generates: every cell of REFUSALS below is tried, and what is not granted
must be refused with AccessDenied (what is granted must work).

The same table is held against the policy model (`policies.allowed`), so the MinIO documents,
made from the same grants, say the same thing."""

from __future__ import annotations

import itertools
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from botocore.exceptions import ClientError
from django.test import override_settings

from storage import bucket_config, multipart, policies, s3
from storage.buckets import bucket_name
from tests import storage_roles

role_keys, role_server = storage_roles.role_keys, storage_roles.role_server   # the fixtures

ROLES = ("web", "worker", "records")
_uid = itertools.count()

# operation -> (S3 action the server checks, bucket role, a key the operation touches, or None for
# a bucket-level one); {n} makes a key of the cell's own.
OPERATIONS = {
    "read a read":                ("s3:GetObject", "raw", "lab/job/S1_R1.fastq.gz"),
    "upload a read (presigned)":  ("s3:PutObject", "raw", "lab/job/S{n}_R1.fastq.gz"),
    "delete a read":              ("s3:DeleteObjectVersion", "raw", "lab/job/S{n}_R2.fastq.gz"),
    "delete a received copy":     ("s3:DeleteObjectVersion", "raw", "lab/received/{n}_R1.fastq.gz"),
    "tag a read":                 ("s3:PutObjectTagging", "raw", "lab/job/S1_R1.fastq.gz"),
    "list unfinished uploads":    ("s3:ListBucketMultipartUploads", "raw", None),
    "list the reads":             ("s3:ListBucket", "raw", None),
    "hold a read":                ("s3:PutObjectLegalHold", "raw", "lab/job/S{n}_R1.fastq.gz"),
    "read an intermediate":       ("s3:GetObject", "intermediate", "lab/job/bam/x.bam"),
    "write an intermediate":      ("s3:PutObject", "intermediate", "lab/job/bam/{n}.bam"),
    "delete an intermediate":     ("s3:DeleteObject", "intermediate", "lab/job/bam/d{n}.bam"),
    "read a result":              ("s3:GetObject", "results", "lab/job/variants.tsv"),
    "write a result":             ("s3:PutObject", "results", "lab/job/{n}.tsv"),
    "write a report PDF":         ("s3:PutObject", "results", "lab/job/report/{n}.pdf"),
    "write a held report PDF":    ("s3:PutObjectLegalHold", "results", "lab/job/report/h{n}.pdf"),
    "delete a result":            ("s3:DeleteObjectVersion", "results", "lab/job/d{n}.tsv"),
    "hold a result":              ("s3:PutObjectLegalHold", "results", "lab/job/h{n}.tsv"),
    "read an archive":            ("s3:GetObject", "archives", "2026/01/lab/job.tar.gz"),
    "write an archive":           ("s3:PutObject", "archives", "2026/01/lab/{n}.tar.gz"),
    "delete an archive":          ("s3:DeleteObjectVersion", "archives", "2026/01/lab/d{n}.tar.gz"),
    "read the reference":         ("s3:GetObject", "reference", "GRCh38/ref.fa"),
    "write the reference":        ("s3:PutObject", "reference", "GRCh38/{n}.fa"),
    "read a job log":             ("s3:GetObject", "logs", "2026-01-01/job/trace.txt"),
    "read an audit export":       ("s3:GetObject", "logs", "audit/2026/2026-01.jsonl.gz"),
    "write a job log":            ("s3:PutObject", "logs", "2026-01-01/job/{n}.txt"),
    "write a retained checkpoint": ("s3:PutObjectRetention", "logs", "audit/checkpoints/{n}.json"),
    "delete an audit export":     ("s3:DeleteObjectVersion", "logs", "audit/2026/d{n}.jsonl.gz"),
    "change a bucket's rules":    ("s3:PutLifecycleConfiguration", "raw", None),
}

# True: the role may; False: the server must refuse it (AccessDenied). Every cell is tried.
REFUSALS = {
    #                               web    worker records
    "read a read":                 (True,  True,  False),
    "upload a read (presigned)":   (True,  False, False),
    "delete a read":               (False, False, False),
    "delete a received copy":      (True,  False, False),
    "tag a read":                  (False, True,  False),
    "list unfinished uploads":     (False, True,  True),
    "list the reads":              (False, False, True),
    "hold a read":                 (False, False, True),
    "read an intermediate":        (True,  True,  True),
    "write an intermediate":       (False, True,  False),
    "delete an intermediate":      (False, False, True),
    "read a result":               (True,  True,  True),
    "write a result":              (False, True,  True),
    "write a report PDF":          (True,  True,  True),
    "write a held report PDF":     (True,  True,  True),
    "delete a result":             (False, False, True),
    "hold a result":               (False, False, True),
    "read an archive":             (False, False, True),
    "write an archive":            (False, False, True),
    "delete an archive":           (False, False, True),
    "read the reference":          (True,  True,  False),
    "write the reference":         (False, False, False),
    "read a job log":              (True,  True,  True),
    "read an audit export":        (False, True,  True),
    "write a job log":             (False, True,  False),
    "write a retained checkpoint": (False, True,  False),
    "delete an audit export":      (False, False, False),
    "change a bucket's rules":     (False, False, False),
}

CELLS = [(op, role, REFUSALS[op][i]) for op in REFUSALS for i, role in enumerate(ROLES)]


def test_the_table_covers_every_operation_and_matches_the_policy_model():
    assert set(REFUSALS) == set(OPERATIONS)
    for op, role, expected in CELLS:
        action, bucket_role, key = OPERATIONS[op]
        key = key.format(n=0) if key else None
        assert policies.allowed(role, action, bucket_role, key) is expected, (op, role)


@pytest.fixture(scope="module")
def seeded(role_server):
    """One object of each kind the operations read, stored with the admin key."""
    admin = s3.client("admin")
    for _action, bucket_role, key in OPERATIONS.values():
        if key and "{n}" not in key:
            admin.put_object(Bucket=bucket_name(bucket_role), Key=key, Body=b"x")
    return role_server


def _presigned_upload(cl, bucket: str, key: str) -> None:
    upload_id = cl.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    url = cl.generate_presigned_url("upload_part", Params={
        "Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": 1})
    answer = urllib.request.urlopen(urllib.request.Request(url, data=b"@r1\n", method="PUT"))
    cl.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    cl.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": answer.headers["ETag"]}]})


def _delete_version(cl, admin, bucket: str, key: str) -> None:
    admin.put_object(Bucket=bucket, Key=key, Body=b"x")
    version = admin.head_object(Bucket=bucket, Key=key)["VersionId"]
    cl.delete_object(Bucket=bucket, Key=key, VersionId=version)


def _attempt(op: str, cl, admin, bucket: str, key: str | None) -> None:
    action = OPERATIONS[op][0]
    if op == "upload a read (presigned)":
        _presigned_upload(cl, bucket, key)
    elif op == "write a held report PDF":     # as reports/services.py writes under a job's hold
        cl.put_object(Bucket=bucket, Key=key, Body=b"%PDF", ObjectLockLegalHoldStatus="ON")
    elif action == "s3:DeleteObjectVersion":
        _delete_version(cl, admin, bucket, key)
    elif action == "s3:DeleteObject":
        admin.put_object(Bucket=bucket, Key=key, Body=b"x")
        cl.delete_object(Bucket=bucket, Key=key)
    elif action == "s3:GetObject":
        cl.get_object(Bucket=bucket, Key=key)["Body"].read()
        cl.head_object(Bucket=bucket, Key=key)
    elif action == "s3:PutObject":
        cl.put_object(Bucket=bucket, Key=key, Body=b"x")
    elif action == "s3:PutObjectTagging":
        cl.put_object_tagging(Bucket=bucket, Key=key,
                              Tagging={"TagSet": [{"Key": "verified", "Value": "true"}]})
    elif action == "s3:PutObjectLegalHold":
        admin.put_object(Bucket=bucket, Key=key, Body=b"x")
        cl.put_object_legal_hold(Bucket=bucket, Key=key, LegalHold={"Status": "ON"})
    elif action == "s3:PutObjectRetention":
        until = (datetime.now(dt_timezone.utc) + timedelta(days=1)).replace(microsecond=0)
        cl.put_object(Bucket=bucket, Key=key, Body=b"{}", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=until, ChecksumAlgorithm="SHA256")
    elif action == "s3:ListBucketMultipartUploads":
        cl.list_multipart_uploads(Bucket=bucket)
    elif action == "s3:ListBucket":
        cl.list_objects_v2(Bucket=bucket)
    elif action == "s3:PutLifecycleConfiguration":
        cl.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
    else:
        raise AssertionError(f"no way to try {action}")


def _refused(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return exc.response["Error"]["Code"] in {"AccessDenied", "403"}
    return isinstance(exc, urllib.error.HTTPError) and exc.code == 403


@pytest.mark.parametrize("op,role,expected", CELLS, ids=[f"{r}: {o}" for o, r, _ in CELLS])
def test_each_role_is_refused_outside_its_rights(seeded, op, role, expected):
    _action, bucket_role, key = OPERATIONS[op]
    key = key.format(n=f"{role}{next(_uid)}") if key else None
    cl, admin = s3.client(role), s3.client("admin")
    try:
        _attempt(op, cl, admin, bucket_name(bucket_role), key)
    except (ClientError, urllib.error.HTTPError) as exc:
        assert not expected, f"{role} should be able to {op}: {exc}"
        assert _refused(exc), f"{role} trying to {op} failed, but not with AccessDenied: {exc}"
    else:
        assert expected, f"{role} could {op}, which its key must not allow"


def test_seaweedfs_lists_only_the_buckets_a_key_may_list(role_server):
    """Why the health check asks GetBucketLocation: SeaweedFS answers ListBuckets with the buckets
    the key may list (s3:ListAllMyBuckets does not widen it), so the web and worker keys see none.
    MinIO lists every bucket to a key with s3:ListAllMyBuckets."""
    from storage.buckets import REGISTRY

    every = {rule.name for rule in REGISTRY}
    seen = {role: {b["Name"] for b in s3.client(role).list_buckets().get("Buckets", [])} & every
            for role in ROLES}
    assert seen == {"web": set(), "worker": set(), "records": every}


def test_the_health_check_finds_every_bucket_with_any_role_and_names_a_missing_one(role_server):
    from storage.credentials import acting_as
    from storage.health import check_storage

    for role in ROLES:
        with acting_as(role):
            assert check_storage()["ok"], role
    with override_settings(MINIO_BUCKET_ARCHIVES="archives-never-made"), acting_as("web"):
        health = check_storage()
    assert not health["ok"] and "missing bucket(s) archives-never-made" in health["error"]


def test_the_portals_own_storage_calls_work_with_the_web_key_and_stop_at_a_delete(role_server):
    """The web process's path through storage.s3 (start, sign, send, complete an upload; sign a
    download), with nothing but the web key; a delete is refused with a sentence naming the role,
    and the same call acting as records goes through."""
    from storage import versions
    from storage.credentials import acting_as

    raw, key = bucket_name("raw"), f"lab/job/W{next(_uid)}_R1.fastq.gz"
    with override_settings(WES_STORAGE_ROLE="web"):
        upload_id = multipart.start_multipart_upload(raw, key)
        url = multipart.presign_upload_part(raw, key, upload_id, 1, content_length=4, expires_in=60)
        sent = urllib.request.urlopen(urllib.request.Request(url, data=b"@r1\n", method="PUT"))
        assert multipart.list_uploaded_parts(raw, key, upload_id)[0]["Size"] == 4
        multipart.complete_multipart_upload(raw, key, upload_id,
                                     [{"PartNumber": 1, "ETag": sent.headers["ETag"]}])
        assert s3.object_size(raw, key) == 4
        download = s3.presign_download(raw, key, file_name="r1.fastq.gz", expires_in=60)
        assert urllib.request.urlopen(download).read() == b"@r1\n"
        with pytest.raises(s3.StorageError, match="denied access.*storage role web") as refused:
            versions.delete_object_versions(raw, key)
        assert refused.value.code == "AccessDenied"
        with pytest.raises(s3.StorageError, match="storage role web"):
            bucket_config.set_lifecycle_rules(raw, [])
        with acting_as("records"):   # holds the read without being able to read it
            [version] = [v["VersionId"] for v in versions.list_versions(raw, key)]
            versions.set_legal_hold(raw, key, version, on=True)
            with pytest.raises(s3.StorageError, match="storage role records"):
                s3.open_object(raw, key)
            versions.set_legal_hold(raw, key, version, on=False)
        with acting_as("admin"):
            assert versions.delete_object_versions(raw, key) == 1


def test_the_worker_key_writes_and_reads_audit_checkpoints_it_cannot_shorten(role_server):
    """tenants/audit_checkpoints.py's storage calls with the worker key: write under retention,
    list and read back by version; shortening the retention or deleting the version is refused."""
    from storage import versions
    from storage.credentials import acting_as

    logs, key = bucket_name("logs"), f"audit/checkpoints/{next(_uid):020d}-{'a' * 64}.json"
    until = (datetime.now(dt_timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    with acting_as("worker"):
        assert bucket_config.get_object_lock_enabled(logs)
        version = versions.put_retained_bytes(logs, key, b"{}", mode="GOVERNANCE",
                                              retain_until=until)
        assert [v["VersionId"] for v in versions.list_versions(logs, key)] == [version]
        assert versions.get_retained_version(logs, key, version)["lock_mode"] == "GOVERNANCE"
        with pytest.raises(s3.StorageError, match="AccessDenied"):
            versions.shorten_retention(logs, key, version, mode="GOVERNANCE",
                                       retain_until=until - timedelta(days=1),
                                       bypass_governance=True)
        with pytest.raises(s3.StorageError, match="AccessDenied"):
            versions.delete_version(logs, key, version, bypass_governance=True)
