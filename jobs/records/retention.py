"""Retention: legal holds on jobs, the jobs held or due for archiving soon, and the buckets' rules
as configured against what the server has (the retention page in the admin reads these). The
dates themselves are the job's own (`Job.archive_due_on`, `Job.expires_on`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from jobs.models import Job
from common.db import for_update
from jobs.records import holds
from storage import provisioning, s3
from storage.buckets import REGISTRY, BucketRule, bucket
from storage.credentials import acting_as
from tenants import audit_actions
from tenants.audit import Actor, audit_record


def _actor(actor) -> Actor:
    return actor if isinstance(actor, Actor) else Actor.for_user(actor)


@acting_as("records")
def job_hold_place(*, actor, job: Job, reason: str, request=None) -> Job:
    """Put the job under legal hold: archiving and purging refuse it until the hold is lifted, and
    every stored version of its reads, results and archive gets an S3 legal hold, so no expiry
    rule or storage user can delete them either. A hold needs a reason, which is kept on the job and
    in the audit event. `actor` is the staff user (or an audit Actor). If storage fails, the job is
    not put on hold and the StorageError says why."""
    who = _actor(actor)
    with transaction.atomic():
        # The row lock waits for an archive pass that is deleting this job's hot files right now.
        job = for_update(Job.objects).select_related("lab").get(pk=job.pk)
        job.place_hold(by=who.email, reason=reason)
        job.save(update_fields=["legal_hold", "legal_hold_reason", "legal_hold_by",
                                "legal_hold_at"])
        locked = holds.job_objects_hold(job, on=True)
        audit_record(actor=who, action=audit_actions.LEGAL_HOLD_PLACED, lab=job.lab,
                     resource_type="job", resource_id=job.pk, request=request,
                     details={"reason": job.legal_hold_reason, "status": job.status,
                              "object_versions_held": locked})
    return job


@acting_as("records")
def job_hold_lift(*, actor, job: Job, reason: str = "", request=None) -> Job:
    """Lift the job's legal hold and its objects' S3 legal holds; the audit event keeps the reason
    it was held for."""
    who = _actor(actor)
    with transaction.atomic():
        job = for_update(Job.objects).select_related("lab").get(pk=job.pk)
        held = {"held_for": job.legal_hold_reason, "held_by": job.legal_hold_by,
                "held_since": job.legal_hold_at}
        job.lift_hold()
        job.save(update_fields=["legal_hold", "legal_hold_reason", "legal_hold_by",
                                "legal_hold_at"])
        released = holds.job_objects_hold(job, on=False)
        audit_record(actor=who, action=audit_actions.LEGAL_HOLD_LIFTED, lab=job.lab,
                     resource_type="job", resource_id=job.pk, request=request,
                     details={"reason": reason.strip(), **held,
                              "object_versions_released": released})
    return job


def jobs_on_hold():
    return Job.objects.filter(legal_hold=True).select_related("lab", "sample") \
        .order_by("legal_hold_at")


def jobs_archiving_soon(*, within_days: int = 14, now=None):
    """Succeeded jobs whose archive date falls within the next days (or has passed)."""
    now = now or timezone.now()
    return Job.objects.archiving_by(now + timedelta(days=within_days)) \
        .select_related("lab", "sample").order_by("finished_at")


@dataclass
class Aspect:
    name: str
    configured: str
    server: str
    drift: bool


@dataclass
class BucketStatus:
    rule: BucketRule
    aspects: list[Aspect] = field(default_factory=list)
    error: str = ""

    @property
    def drift(self) -> bool:
        return bool(self.error) or any(a.drift for a in self.aspects)


def _configured(rule: BucketRule) -> list[tuple[str, str]]:
    wanted = [("versioning", "on" if rule.versioned else "off")]
    if rule.object_lock:
        wanted.append(("object lock", "enabled (for legal holds)"))
    if rule.encrypted:
        wanted.append(("encryption", "SSE-S3 (AES256) by default"))
    wanted.append(("lifecycle", provisioning.describe_rules(rule.lifecycle_rules())))
    if rule.browser_uploads:
        wanted.append(("cors", provisioning.describe_cors(rule.cors_rules())))
    return wanted


def bucket_status(rule: BucketRule) -> BucketStatus:
    """One bucket's rules side by side with the server's, from provisioning's own drift check."""
    status = BucketStatus(rule)
    try:
        report = provisioning.plan((rule,))
    except s3.StorageError as exc:
        status.error = str(exc)
        return status
    drift = {d.aspect: d for d in report.drift}
    if "bucket" in drift:
        status.error = f"the bucket {rule.name} does not exist on the server"
        return status
    for name, configured in _configured(rule):
        found = drift.get(name)
        status.aspects.append(Aspect(name, configured, found.actual if found else configured,
                                     drift=found is not None))
    if report.unsupported:
        status.error = "; ".join(report.unsupported)
    return status


def bucket_statuses() -> list[BucketStatus]:
    return [bucket_status(rule) for rule in REGISTRY]


def bucket_rules_reapply(*, actor, role: str, request=None) -> provisioning.Report:
    """Apply the configured rules to one bucket again (creating it if missing), audited with the
    changes made; a storage error propagates with its explanation."""
    rule = bucket(role)
    report = provisioning.apply((rule,))
    audit_record(actor=_actor(actor), action=audit_actions.STORAGE_RULES_APPLIED, request=request,
                 resource_type="bucket", resource_id=rule.name,
                 details={"role": rule.role, "changes": report.changes,
                          "unsupported": report.unsupported})
    return report
