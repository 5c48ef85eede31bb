"""django-q2 entry points for tenants. Each calls one service and is safe to run twice."""

from tenants import audit_export


def export_audit_log() -> str:
    """Monthly: the previous month's audit events to the logs bucket (and any month missed)."""
    exports = audit_export.audit_export_due()
    return "; ".join(f"{e.month:%Y-%m}: {e.event_count} event(s), {e.key}, sha256 {e.sha256}"
                     for e in exports)
