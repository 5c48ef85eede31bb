"""FASTQ files the no-JavaScript form received while another field was wrong.

The browser cannot keep a chosen file across a form that comes back with errors, so the portal
keeps it instead: each file that passed its own checks is stored in the raw bucket under the
lab's prefix (storage.keys.received_fastq_key), and the form carries a signed token naming what
was received, for this member of this lab. The corrected form, sent with empty file inputs,
claims them (a server-side copy to the sample's own key): the files are not sent again. Unclaimed
files expire with the raw bucket's rule; a token older than RECEIVED_TOKEN_AGE is ignored.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.core import signing
from django.core.files.storage import storages

from storage import keys, ledger, s3, versions
from storage.buckets import bucket_name
from storage.checksums import sha256_chunks
from tenants import audit_actions
from tenants.audit import Actor, audit_record

SALT = "jobs.intake.received-fastq"
RECEIVED_TOKEN_AGE = timedelta(days=1)   # well inside the raw bucket's 7 days
MIB = 1024 * 1024


@dataclass(frozen=True)
class ReceivedFile:
    read: int
    name: str
    size: int
    sha256: str
    key: str


def receive(*, membership, read: int, upload, request=None) -> ReceivedFile:
    """Store one uploaded file (a Django UploadedFile) until the corrected form claims it."""
    lab = membership.lab
    key = keys.received_fastq_key(lab, uuid.uuid4(), read)
    upload.seek(0)
    digest = sha256_chunks(upload.chunks(8 * MIB))
    upload.seek(0)
    with s3.translated_errors(f"keep R{read}"):
        stored_as = storages["raw"].save(key, upload)
    if stored_as != key:
        raise s3.StorageError(f"R{read} could not be kept under its own key.")
    ledger.record_put(bucket=bucket_name("raw"), key=key, size=upload.size, lab=lab,
                      sha256=digest)
    received = ReceivedFile(read=read, name=upload.name, size=upload.size, sha256=digest, key=key)
    audit_record(actor=Actor.for_user(membership.user), action=audit_actions.UPLOAD_RECEIVED,
                 lab=lab, resource_type="received_file", resource_id=key.rsplit("/", 1)[-1],
                 request=request, details={"read": f"R{read}", "name": upload.name,
                                           "size": upload.size, "sha256": digest})
    return received


def token_for(membership, received: dict[int, ReceivedFile]) -> str:
    if not received:
        return ""
    return signing.dumps({"lab": str(membership.lab.pk), "user": membership.user.pk,
                          "files": [asdict(f) for f in received.values()]}, salt=SALT)


def from_token(membership, token: str) -> dict[int, ReceivedFile]:
    """The files a token names, if it was issued to this member of this lab, is recent, and the
    files are still stored at their size; anything else counts as nothing received."""
    if not token:
        return {}
    try:
        data = signing.loads(token, salt=SALT, max_age=RECEIVED_TOKEN_AGE)
    except signing.BadSignature:
        return {}
    if data.get("lab") != str(membership.lab.pk) or data.get("user") != membership.user.pk:
        return {}
    prefix = keys.lab_prefix(membership.lab)
    out = {}
    for item in data.get("files", []):
        try:
            f = ReceivedFile(**item)
        except TypeError:     # issued by another version of this module
            continue
        if f.read in (1, 2) and f.key.startswith(prefix) and \
                s3.object_size(bucket_name("raw"), f.key) == f.size:
            out[f.read] = f
    return out


def claim(received: ReceivedFile, key: str) -> None:
    """Copy the kept file to the sample's key, inside storage."""
    s3.copy_object(bucket_name("raw"), received.key, key)


def release(received: ReceivedFile) -> None:
    """Remove the kept copy once the sample that claimed it is recorded."""
    raw = bucket_name("raw")
    versions.delete_object_versions(raw, received.key)
    ledger.record_delete(bucket=raw, key=received.key)
