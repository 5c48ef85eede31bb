"""The object ledger: every object the portal writes or deletes is recorded here, in the same
transaction as the row that refers to it where there is one (see storage.models.StoredObject)."""

from __future__ import annotations

from django.utils import timezone

from storage.models import StoredObject


def record_put(*, bucket: str, key: str, size: int, lab=None, job_id=None,
               sha256: str = "") -> StoredObject:
    """Record a written object; writing the same key again replaces the live row."""
    now = timezone.now()
    StoredObject.objects.filter(bucket=bucket, key=key, deleted_at__isnull=True) \
        .update(deleted_at=now)
    return StoredObject.objects.create(bucket=bucket, key=key, size=size, sha256=sha256,
                                       lab=lab, job_id=job_id, created_at=now)


def record_delete(*, bucket: str, key: str) -> int:
    return StoredObject.objects.filter(bucket=bucket, key=key, deleted_at__isnull=True) \
        .update(deleted_at=timezone.now())
