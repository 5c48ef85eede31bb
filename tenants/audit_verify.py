"""Checking the audit log's hash chain off the web request: the admin button queues it, a daily
schedule runs it, and each outcome is itself an `audit.verified` event that the admin shows.

A million events take about 20 s to walk, longer than a web server should hold a request open.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.mail import mail_admins

from common.queue import enqueue
from tenants import audit_actions
from tenants.audit import SYSTEM, Actor, audit_record, verify_chain
from tenants.models import AuditEvent

VERIFY_TASK = "tenants.tasks.verify_audit_chain"


def audit_chain_verify(*, requested_by: int | None = None, via: str = "schedule") -> AuditEvent:
    """Walk the whole chain now and record the outcome; a broken chain also emails ADMINS."""
    actor = SYSTEM
    if requested_by is not None:
        user = get_user_model().objects.filter(pk=requested_by).first()
        actor = Actor.for_user(user) if user else SYSTEM
    started = time.monotonic()
    checked, broken = verify_chain()
    details = {"via": via, "checked": checked, "intact": broken is None,
               "seconds": round(time.monotonic() - started, 2)}
    if broken is not None:
        details.update(broken_event_id=broken.event_id, problem=broken.kind,
                       reason=broken.reason, broken_at=broken.describe())
        if broken.created_at:
            details["broken_event_created_at"] = f"{broken.created_at:%Y-%m-%d %H:%M:%S %Z}"
    event = audit_record(actor=actor, action=audit_actions.AUDIT_VERIFIED, resource_type="audit_log",
                         details=details)
    if broken is not None:
        mail_admins("Audit log hash chain BROKEN",
                    f"The audit log's hash chain is broken at {broken.describe()}.\n"
                    f"{checked} event(s) were read; the events before it are intact, the ones "
                    f"from it on cannot be trusted.\nChecked via {via}, recorded as audit event "
                    f"#{event.pk}.")
    return event


def audit_chain_verify_request(*, user, request=None) -> None:
    """Queue a check for the worker; the request itself is audited with where it came from."""
    audit_record(actor=Actor.for_user(user), action=audit_actions.AUDIT_VERIFY_REQUESTED,
                 resource_type="audit_log", request=request, details={"via": "admin"})
    enqueue(VERIFY_TASK, requested_by=user.pk, via="admin")


def latest_verification() -> AuditEvent | None:
    return AuditEvent.objects.filter(action=audit_actions.AUDIT_VERIFIED).order_by("-id").first()
