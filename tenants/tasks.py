"""django-q2 entry points for tenants. Each calls one service and is safe to run twice."""

from tenants import audit_export, audit_verify


def export_audit_log() -> str:
    """Monthly: the previous month's audit events to the logs bucket (and any month missed)."""
    exports = audit_export.audit_export_due()
    return "; ".join(f"{e.month:%Y-%m}: {e.event_count} event(s), {e.key}, sha256 {e.sha256}"
                     for e in exports)


def verify_audit_chain(requested_by: int | None = None, via: str = "schedule") -> str:
    """Daily, and when staff press "Verify hash chain": walk the chain and record the outcome."""
    event = audit_verify.audit_chain_verify(requested_by=requested_by, via=via)
    details = event.details
    if details["intact"]:
        return f"intact: {details['checked']} event(s) in {details['seconds']} s"
    return f"BROKEN at {details['broken_at']}"
