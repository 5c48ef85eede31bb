"""The bucket registry: which buckets exist, what they hold, and the rules the server must enforce.

Names come from settings (`MINIO_BUCKET_*`); the rules are the lab's retention policy and live here,
in one table, so that `setup_storage` and the drift check read the same source.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

DAYS_IN_SEVEN_YEARS = 2555


@dataclass(frozen=True)
class BucketRule:
    role: str                    # stable name used in code: "raw", "results", ...
    setting: str                 # the settings name that holds the bucket's name
    holds: str
    versioned: bool
    encrypted: bool
    expire_days: int | None      # lifecycle expiration of current objects; None keeps forever
    read_only: bool = False      # the pipeline and portal never write here (load_reference does)
    browser_uploads: bool = False  # browsers PUT presigned parts here, so it needs CORS rules

    @property
    def name(self) -> str:
        return getattr(settings, self.setting)

    @property
    def object_lock(self) -> bool:
        """Versioned buckets have Object Lock, with no default retention: nothing is locked until
        a job's legal hold reaches its objects, or an audit checkpoint is written with its own
        retention."""
        return self.versioned

    def lifecycle_rules(self) -> list[dict]:
        """The lifecycle configuration as the S3 API takes it (and as servers read it back)."""
        if self.expire_days is None:
            return []
        rule: dict = {
            "ID": f"wes-{self.role}-expire-{self.expire_days}d",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": self.expire_days},
        }
        if self.versioned:
            # Without this, "deleted" objects in a versioned bucket live on as old versions forever.
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": self.expire_days}
        return [rule]

    def cors_rules(self) -> list[dict]:
        """Browsers on the portal's origins may PUT parts and must be able to read their ETag."""
        if not self.browser_uploads:
            return []
        return [{
            "ID": "wes-portal-uploads",
            "AllowedOrigins": sorted(settings.STORAGE_UPLOAD_ORIGINS),
            "AllowedMethods": ["GET", "HEAD", "PUT"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3600,
        }]


REGISTRY: tuple[BucketRule, ...] = (
    BucketRule("raw", "MINIO_BUCKET_RAW", "uploaded FASTQ", versioned=True, encrypted=True,
               expire_days=7, browser_uploads=True),
    BucketRule("intermediate", "MINIO_BUCKET_INTERMEDIATE", "BAM, raw VCF, QC", versioned=False,
               encrypted=True, expire_days=30),
    # Archiving at 90 days is done by the portal (a verified tarball in the archives bucket), not by
    # a lifecycle transition, because transitions need server-specific tiers; expiry is the backstop.
    BucketRule("results", "MINIO_BUCKET_RESULTS", "final TSV, PDF report, metadata.json",
               versioned=True, encrypted=True, expire_days=DAYS_IN_SEVEN_YEARS),
    BucketRule("archives", "MINIO_BUCKET_ARCHIVES", "tar.gz of finished jobs", versioned=True,
               encrypted=True, expire_days=DAYS_IN_SEVEN_YEARS),
    BucketRule("reference", "MINIO_BUCKET_REFERENCE", "genomes, indexes, annotation",
               versioned=False, encrypted=False, expire_days=None, read_only=True),
    # Versioned so that it can have Object Lock: the audit chain's checkpoints are written here
    # under retention (tenants/audit_checkpoints.py); a retained version outlives the expiry rule.
    BucketRule("logs", "MINIO_BUCKET_LOGS",
               "Nextflow trace/report/timeline, audit exports, audit chain checkpoints",
               versioned=True, encrypted=False, expire_days=365),
)


def bucket(role: str) -> BucketRule:
    for rule in REGISTRY:
        if rule.role == role:
            return rule
    raise KeyError(f"no bucket with role {role!r}; known: {[r.role for r in REGISTRY]}")


def bucket_name(role: str) -> str:
    return bucket(role).name
