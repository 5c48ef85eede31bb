"""Retention: legal holds on jobs, the jobs held or due for archiving soon, and the buckets' rules
as configured against what the server has (the retention page in the admin reads these). The
dates themselves are the job's own (`Job.archive_due_on`, `Job.expires_on`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import for_update
from common.queue import enqueue
from jobs.models import Job
from jobs.records import holds
from storage import provisioning, s3
from storage.buckets import REGISTRY, BucketRule, bucket
from storage.credentials import acting_as, separate_keys
from tenants import audit_actions
from tenants.audit import SYSTEM, Actor, audit_record
from tenants.models import AuditEvent


def _actor(actor) -> Actor:
    return actor if isinstance(actor, Actor) else Actor.for_user(actor)


HOLD_OBJECTS_QUEUED = "queued for the records worker"


def records_key_here() -> bool:
    """Whether this process may set S3 legal holds itself: it has the records key of its own, or
    one key for every role (a single-key installation, scripts/dev, the tests). gunicorn with only
    the web key (the stack, deploy/) may not: the records worker sets them for it."""
    own = separate_keys()
    return own["records"] or not any(own.values())


def job_hold_place(*, actor, job: Job, reason: str, request=None) -> Job:
    """Put the job under legal hold: archiving and purging refuse it until the hold is lifted, and
    every stored version of its reads, results and archive gets an S3 legal hold, so no expiry
    rule or storage user can delete them either. A hold needs a reason, which is kept on the job and
    in the audit event. `actor` is the staff user (or an audit Actor).

    With the records key here the objects are held at once: if storage fails, the job is not put on
    hold and the StorageError says why. Without it the job is held from this moment and the records
    worker holds its objects (`job_objects_hold_match`); until it has, `hold_objects_pending` says
    so."""
    who = _actor(actor)
    at_once = records_key_here()
    with transaction.atomic():
        # The row lock waits for an archive pass that is deleting this job's hot files right now.
        job = for_update(Job.objects).select_related("lab").get(pk=job.pk)
        job.place_hold(by=who.email, reason=reason)
        job.save(update_fields=["legal_hold", "legal_hold_reason", "legal_hold_by",
                                "legal_hold_at"])
        details = {"reason": job.legal_hold_reason, "status": job.status,
                   **_objects_to_row(job, at_once, counted_as="object_versions_held")}
        audit_record(actor=who, action=audit_actions.LEGAL_HOLD_PLACED, lab=job.lab,
                     resource_type="job", resource_id=job.pk, request=request, details=details)
    return job


def job_hold_lift(*, actor, job: Job, reason: str = "", request=None) -> Job:
    """Lift the job's legal hold and its objects' S3 legal holds (at once with the records key
    here, else by the records worker); the audit event keeps the reason it was held for."""
    who = _actor(actor)
    at_once = records_key_here()
    with transaction.atomic():
        job = for_update(Job.objects).select_related("lab").get(pk=job.pk)
        details = {"reason": reason.strip(), "held_for": job.legal_hold_reason,
                   "held_by": job.legal_hold_by, "held_since": job.legal_hold_at}
        job.lift_hold()
        job.save(update_fields=["legal_hold", "legal_hold_reason", "legal_hold_by",
                                "legal_hold_at"])
        details.update(_objects_to_row(job, at_once, counted_as="object_versions_released"))
        audit_record(actor=who, action=audit_actions.LEGAL_HOLD_LIFTED, lab=job.lab,
                     resource_type="job", resource_id=job.pk, request=request, details=details)
    return job


def _objects_to_row(job: Job, at_once: bool, *, counted_as: str) -> dict:
    """Bring the job's object holds to what its row now says: here, with the records key (the
    audit details get the count of versions), or by queuing the records task."""
    if at_once:
        with acting_as("records"):
            return {counted_as: holds.job_objects_hold(job, on=job.legal_hold)}
    job_objects_hold_queue(job=job)
    return {"objects": HOLD_OBJECTS_QUEUED}


def hold_objects_group(job_id) -> str:
    """The django-q2 group of a job's object-hold tasks, by which the admin finds their failures."""
    return f"legal-hold-{job_id}"


def job_objects_hold_queue(*, job: Job) -> None:
    """Queue the records task that sets the job's object holds to what its row says, straight on
    the records cluster when there is one (it alone holds the records key)."""
    cluster = {"cluster": settings.WES_RECORDS_CLUSTER} if settings.WES_RECORDS_CLUSTER else {}
    enqueue("jobs.tasks.hold_job_objects", str(job.pk), group=hold_objects_group(job.pk),
            **cluster)


def job_hold_objects_retry(*, job: Job) -> None:
    """Set the job's object holds to its row again after the records task failed (staff placing or
    lifting the hold a second time): at once with the records key here, else queued again."""
    if records_key_here():
        job_objects_hold_match(job_id=job.pk)
    else:
        job_objects_hold_queue(job=job)


@acting_as("records")
def job_objects_hold_match(*, job_id) -> dict[str, int]:
    """Set the S3 legal holds on the job's stored versions to what its row says: held while the job
    is held, released once it is not (a hold placed or lifted where the records key is not). The
    row lock makes a hold placed or lifted meanwhile wait, and that change queues its own run, so
    runs in any order end with the objects as the row. Audited with the number of versions; safe to
    run twice. A storage error propagates (the task shows in the queue's failed tasks, the job's
    admin page says its objects are not yet held) and the row keeps its hold."""
    with transaction.atomic():
        job = for_update(Job.objects).select_related("lab").get(pk=job_id)
        counted = holds.job_objects_hold(job, on=job.legal_hold)
        if job.legal_hold:
            action, details = audit_actions.LEGAL_HOLD_OBJECTS_HELD, {
                "held_for": job.legal_hold_reason, "object_versions_held": counted}
        else:
            action, details = audit_actions.LEGAL_HOLD_OBJECTS_RELEASED, {
                "object_versions_released": counted}
        audit_record(actor=SYSTEM, action=action, lab=job.lab, resource_type="job",
                     resource_id=job.pk, details=details)
    return counted


_HOLD_EVENTS = (audit_actions.LEGAL_HOLD_PLACED, audit_actions.LEGAL_HOLD_LIFTED,
                audit_actions.LEGAL_HOLD_OBJECTS_HELD, audit_actions.LEGAL_HOLD_OBJECTS_RELEASED)


def hold_objects_pending(job: Job) -> str:
    """What is still to be done to the job's stored objects after its last hold change, for staff
    ("" when nothing): the last hold event says the objects were queued and no records task has
    set them since; with the failure of its last attempt, if it failed."""
    last = AuditEvent.objects.filter(resource_type="job", resource_id=str(job.pk),
                                     action__in=_HOLD_EVENTS).order_by("-id").first()
    if last is None or last.details.get("objects") != HOLD_OBJECTS_QUEUED:
        return ""
    from django_q.models import Failure   # the queue app's record of failed tasks

    verb = "held" if last.action == audit_actions.LEGAL_HOLD_PLACED else "released"
    pending = f"stored objects not yet {verb}: {HOLD_OBJECTS_QUEUED}"
    failed = Failure.objects.filter(group=hold_objects_group(job.pk),
                                    started__gte=last.created_at).order_by("-stopped").first()
    if failed:
        # django-q2 keeps "<error> : <traceback>"; staff need the error.
        error = str(failed.result or "no reason given").split(" : Traceback", 1)[0]
        error = error.splitlines()[0][:300] if error else "no reason given"
        pending += (f"; its last attempt failed at {failed.stopped:%Y-%m-%d %H:%M} UTC ({error}), "
                    "see the failed tasks; placing (or lifting) the hold again queues it again")
    return pending


def jobs_hold_objects_queued(jobs) -> set:
    """The ids of those of `jobs` (a page of a list) whose last hold change left their stored
    objects to the records worker, not yet done: `hold_objects_pending` for many jobs in one query
    (none when no job on the page is held), without the failed attempt's details."""
    held = {str(job.pk): job.pk for job in jobs if job.legal_hold}
    if not held:
        return set()
    last = dict(AuditEvent.objects.filter(resource_type="job", resource_id__in=list(held),
                                          action__in=_HOLD_EVENTS)
                .order_by("id").values_list("resource_id", "details"))
    return {held[resource] for resource, details in last.items()
            if details.get("objects") == HOLD_OBJECTS_QUEUED}


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
