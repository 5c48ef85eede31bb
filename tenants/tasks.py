"""django-q2 entry points for tenants. Each calls one service and is safe to run twice."""

from django.core.mail import mail_admins

from tenants import audit_checkpoints, audit_export, audit_verify


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
        return (f"intact: {details['checked']} event(s) in {details['seconds']} s, "
                f"{details['checkpoints']} checkpoint(s) hold")
    problems = [details["broken_at"]] if "broken_at" in details else []
    problems += [p["message"] for p in details.get("checkpoint_problems", [])]
    return "BROKEN: " + "; ".join(problems)


def checkpoint_audit_chain() -> str:
    """Daily (and after every check): write a checkpoint of the newest event to the logs bucket,
    under Object Lock retention, once the events since the last checkpoint are seen to continue
    it. When they do not, nothing is written and ADMINS are mailed."""
    outcome = audit_checkpoints.audit_checkpoint()
    if outcome.written is not None:
        return f"checkpoint of event #{outcome.written.last_id}: {outcome.written.key}"
    if outcome.problem:
        mail_admins("Audit log checkpoint NOT written",
                    f"The audit chain checkpoint was {outcome.skipped}.")
    return outcome.skipped
