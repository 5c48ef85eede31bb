"""Each storage role's rights, in one table, and the server configuration made from it: a MinIO
policy document per role (IAM JSON, attached to the role's MinIO user) and a SeaweedFS `s3.json`
whose identities carry the same documents (`policies` + `policyNames`).

SeaweedFS's older identity actions ("Read:bucket", "Write:bucket", ...) cannot say "write but not
delete" (its Write covers PutObject, DeleteObject and DeleteObjectVersion alike), so the identities
are given the IAM documents instead, which SeaweedFS 4.x enforces action by action; the test in
storage/tests/test_credentials_seaweed.py holds every cell of the table against a real server.

Why each grant exists (the callers that need it) is in the comment beside it; a right nobody
uses is not granted. Bucket names come from settings, so the documents follow MINIO_BUCKET_*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.buckets import REGISTRY, bucket_name
from storage.credentials import ROLES

# What each right lets a key do, as S3 IAM actions: on the objects (arn:aws:s3:::bucket/keys) and
# on the bucket itself (arn:aws:s3:::bucket). HEAD needs s3:GetObject; s3:PutObject covers a
# multipart upload's create, parts and complete, and a copy's destination.
RIGHTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "read": (("s3:GetObject", "s3:GetObjectVersion"), ()),
    "list": ((), ("s3:ListBucket",)),
    "list_versions": ((), ("s3:ListBucketVersions",)),
    "write": (("s3:PutObject",), ()),
    "finish_uploads": (("s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"), ()),
    "sweep_uploads": (("s3:AbortMultipartUpload",), ("s3:ListBucketMultipartUploads",)),
    "tag": (("s3:PutObjectTagging", "s3:GetObjectTagging"), ()),
    "delete": (("s3:DeleteObject", "s3:DeleteObjectVersion"), ()),
    "hold": (("s3:PutObjectLegalHold", "s3:GetObjectLegalHold"), ()),
    "retain": (("s3:PutObjectRetention", "s3:GetObjectRetention"),
               ("s3:GetBucketObjectLockConfiguration",)),
}

ALL_KEYS = "*"
REPORT_KEYS = "*/*/report/*"          # keys.report_key: {lab}/{job}/report/...
RECEIVED_KEYS = "*/received/*"        # keys.received_fastq_key: {lab}/received/...
JOB_LOG_KEYS = "????-??-??/*"         # keys.log_key: {yyyy-mm-dd}/{job}/...; not audit/...
AUDIT_CHECKPOINT_KEYS = "audit/checkpoints/*"


@dataclass(frozen=True)
class Grant:
    bucket: str          # bucket role (storage/buckets.py)
    right: str           # a key of RIGHTS
    keys: str = ALL_KEYS


G = Grant
TABLE: dict[str, tuple[Grant, ...]] = {
    "web": (
        G("raw", "write"),                # browser parts (presigned), plain form upload, claim copy
        G("raw", "read"),                 # sizes after upload, copy source, form re-use checks
        G("raw", "finish_uploads"),       # resume (list parts), cancel an upload
        G("raw", "list_versions"),        # find the versions of a received copy to remove
        G("raw", "delete", RECEIVED_KEYS),  # remove a received copy once claimed; nothing else
        G("reference", "read"),           # gene panels read the bundle's HPO gene file
        G("intermediate", "read"),        # sign downloads of BAM/VCF/QC outputs
        G("results", "read"),             # sign downloads of results and report PDFs
        G("results", "write", REPORT_KEYS),  # draft edits and sign-out write the PDF
        G("results", "hold", REPORT_KEYS),   # ... under the job's legal hold when it has one
        G("logs", "read", JOB_LOG_KEYS),  # sign downloads of trace/report/timeline outputs
    ),
    "worker": (
        G("raw", "read"),                 # verification re-reads, staging the reads for a run
        G("raw", "tag"),                  # verification tags the verified reads
        G("raw", "sweep_uploads"),        # intake sweep aborts abandoned uploads
        G("reference", "read"),           # staging the reference bundle
        G("intermediate", "read"), G("intermediate", "write"),   # publishing outputs
        G("results", "read"), G("results", "write"),             # publishing, draft reports
        G("results", "hold", REPORT_KEYS),                       # a draft written under a hold
        G("logs", "read"), G("logs", "write"),                   # logs, audit exports
        # a large upload that fails is aborted (boto3's upload_file), which deletes no object
        G("intermediate", "finish_uploads"), G("results", "finish_uploads"),
        G("logs", "finish_uploads"),
        G("logs", "list_versions"),       # audit checkpoints are read back by version
        G("logs", "retain", AUDIT_CHECKPOINT_KEYS),              # checkpoints under retention
    ),
    "records": (
        G("raw", "list"), G("raw", "list_versions"), G("raw", "hold"),     # legal holds on reads
        G("raw", "sweep_uploads"),        # reconciliation lists unfinished uploads
        # deleting "every version" lists the versions first, in unversioned buckets too
        G("intermediate", "list"), G("intermediate", "list_versions"),
        G("intermediate", "read"), G("intermediate", "delete"),
        G("intermediate", "sweep_uploads"),
        G("results", "list"), G("results", "list_versions"), G("results", "read"),
        G("results", "write"), G("results", "finish_uploads"),  # restore brings files back
        G("results", "delete"), G("results", "hold"), G("results", "sweep_uploads"),
        G("archives", "list"), G("archives", "list_versions"), G("archives", "read"),
        G("archives", "write"), G("archives", "finish_uploads"), G("archives", "sweep_uploads"),
        G("archives", "delete"), G("archives", "hold"),
        G("reference", "list"), G("reference", "sweep_uploads"),   # reconciliation
        G("logs", "list"), G("logs", "list_versions"), G("logs", "read"),
        G("logs", "sweep_uploads"),
        G("logs", "delete", JOB_LOG_KEYS),  # purge removes a job's log outputs, never audit/...
    ),
}
# setup_storage, load_reference and backups: everything on the six buckets (and creating them).
ADMIN_ACTIONS = ("s3:*",)


def _arn(bucket: str, keys: str | None = None) -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{keys}" if keys is not None else "")


def statements(role: str) -> list[dict]:
    """The IAM statements of `role`: one per (bucket, keys) with the actions of its rights."""
    common = [{"Sid": "SeeTheBuckets", "Effect": "Allow",
               "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"],
               "Resource": ["arn:aws:s3:::*"]}]
    if role == "admin":
        names = [rule.name for rule in REGISTRY]
        return common + [{"Sid": "Everything", "Effect": "Allow", "Action": list(ADMIN_ACTIONS),
                          "Resource": [_arn(n) for n in names] + [_arn(n, "*") for n in names]}]
    on_objects: dict[tuple[str, str], set[str]] = {}
    on_buckets: dict[str, set[str]] = {}
    for grant in TABLE[role]:
        object_actions, bucket_actions = RIGHTS[grant.right]
        name = bucket_name(grant.bucket)
        if object_actions:
            on_objects.setdefault((name, grant.keys), set()).update(object_actions)
        if bucket_actions:
            on_buckets.setdefault(name, set()).update(bucket_actions)
    out = list(common)
    for (name, keys), actions in on_objects.items():
        out.append({"Effect": "Allow", "Action": sorted(actions), "Resource": [_arn(name, keys)]})
    for name, actions in on_buckets.items():
        out.append({"Effect": "Allow", "Action": sorted(actions), "Resource": [_arn(name)]})
    return out


def policy_name(role: str) -> str:
    return f"wes-{role}"


def minio_policy(role: str) -> dict:
    """The MinIO (IAM) policy document of `role`, for `mc admin policy create ALIAS wes-ROLE`."""
    return {"Version": "2012-10-17", "Statement": statements(role)}


def minio_policies() -> dict[str, dict]:
    return {policy_name(role): minio_policy(role) for role in ROLES}


def seaweedfs_config(key_pairs: dict[str, tuple[str, str]]) -> dict:
    """SeaweedFS's `-s3.config` file: one identity per role given in `key_pairs` (role ->
    (access key, secret key)), each bound to its role's IAM document by name."""
    identities = []
    for role in ROLES:
        if role not in key_pairs:
            continue
        access_key, secret_key = key_pairs[role]
        identities.append({"name": f"wes-{role}",
                           "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                           "policyNames": [policy_name(role)]})
    return {"identities": identities,
            "policies": [{"name": policy_name(role), "content": json.dumps(minio_policy(role))}
                         for role in ROLES if role in key_pairs]}


def allowed(role: str, action: str, bucket_role: str, key: str | None = None) -> bool:
    """Whether the table grants `action` (an s3: action) on this bucket (and key): the model the
    generated documents are checked against."""
    if role == "admin":
        return True
    from fnmatch import fnmatchcase

    for grant in TABLE[role]:
        object_actions, bucket_actions = RIGHTS[grant.right]
        if grant.bucket != bucket_role:
            continue
        if key is None and action in bucket_actions:
            return True
        if key is not None and action in object_actions and fnmatchcase(key, grant.keys):
            return True
    return False
