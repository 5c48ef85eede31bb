from django.db.models import Q

from tenants.models import AuditEvent


def sample_list(lab, *, search: str = ""):
    """The lab's samples, newest first; `search` matches the sample name or the identifier."""
    samples = lab.samples.prefetch_related("files", "jobs").select_related("created_by")
    if search:
        samples = samples.filter(Q(name__icontains=search) | Q(external_id__icontains=search))
    return list(samples)


def sample_history(sample) -> list[AuditEvent]:
    """What happened to the sample and its files, oldest first (from the audit log)."""
    return list(sample.lab.audit_events.filter(details__sample=str(sample.pk))
                .exclude(action__in=["sample.viewed"]).order_by("id"))
