"""Can the portal reach its storage, and does the server have every configured bucket? Shown by
/healthz and the storage dashboard."""

from __future__ import annotations

from django.conf import settings

from storage import s3
from storage.buckets import REGISTRY


def check_storage() -> dict:
    try:
        present = s3.list_bucket_names(probe=True)
        # A key with rights on some buckets only is shown only those by some servers.
        missing = sorted(rule.name for rule in REGISTRY if rule.name not in present
                         and not s3.bucket_located(rule.name, probe=True))
    except s3.StorageError as exc:
        return {"ok": False, "endpoint": settings.MINIO_ENDPOINT, "error": str(exc)}
    result = {"ok": not missing, "endpoint": settings.MINIO_ENDPOINT}
    if missing:
        result["error"] = ("missing bucket(s) " + ", ".join(missing)
                           + ": run `manage.py setup_storage`")
    return result
