from tenants.models import AuditEvent


def sample_list(lab):
    return list(lab.samples.prefetch_related("files", "jobs").select_related("created_by"))


def sample_history(sample) -> list[AuditEvent]:
    """What happened to the sample and its files, oldest first (from the audit log)."""
    return list(sample.lab.audit_events.filter(details__sample=str(sample.pk))
                .exclude(action__in=["sample.viewed"]).order_by("id"))
