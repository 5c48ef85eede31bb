"""Checking the audit log's hash chain off the web request: the admin button queues it, a daily
schedule runs it, and each outcome is itself an `audit.verified` event that the admin shows.

A check is the walk of the whole chain (each row's link and keyed value) plus the checkpoints in
the logs bucket held against it (truncation, a recomputed chain, a checkpoint without retention);
an intact chain is then checkpointed again. A million events take about 20 s to walk, longer than
a web server should hold a request open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.mail import mail_admins

from common.queue import enqueue
from tenants import audit_actions
from storage.metric_records import record_check
from storage.s3 import StorageError
from tenants.audit import SYSTEM, Actor, ChainBreak, ChainWalk, audit_record, walk_chain
from tenants.audit_checkpoints import (
    CheckpointCheck,
    CheckpointOutcome,
    audit_checkpoint,
    checkpoints_check,
    watch_ids,
)
from tenants.models import AuditEvent

VERIFY_TASK = "tenants.tasks.verify_audit_chain"


@dataclass
class Verification:
    walk: ChainWalk
    broken: ChainBreak | None
    checkpoints: CheckpointCheck
    seconds: float
    checkpointed: CheckpointOutcome | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None and self.checkpoints.ok

    def problems(self) -> list[str]:
        found = [f"chain broken at {self.broken.describe()}"] if self.broken else []
        return found + [f.message for f in self.checkpoints.findings]

    def details(self) -> dict:
        """What the `audit.verified` event records (and the admin shows)."""
        details = {"checked": self.walk.checked, "intact": self.intact,
                   "seconds": round(self.seconds, 2), "checkpoints": self.checkpoints.checkpoints}
        broken = self.broken
        if broken is not None:
            details.update(broken_event_id=broken.event_id, problem=broken.kind,
                           reason=broken.reason, broken_at=broken.describe())
            if broken.created_at:
                details["broken_event_created_at"] = f"{broken.created_at:%Y-%m-%d %H:%M:%S %Z}"
        findings = self.checkpoints.findings
        if findings:
            details["checkpoint_problems"] = [
                {"kind": f.kind, "message": f.message, "event_id": f.event_id}
                for f in findings[:MAX_FINDINGS_RECORDED]]
            details["checkpoint_problem_count"] = len(findings)
        if self.checkpointed is not None and self.checkpointed.written is not None:
            details["checkpoint_written"] = self.checkpointed.written.last_id
        elif self.checkpointed is not None:
            details["checkpoint_skipped"] = self.checkpointed.skipped
        return details


MAX_FINDINGS_RECORDED = 20


def audit_chain_check(*, checkpoint: bool = True) -> Verification:
    """Walk the chain, hold the stored checkpoints against it, and (when both hold and
    `checkpoint`) write a new checkpoint of the newest event walked."""
    started = time.monotonic()
    walk = walk_chain(watch=watch_ids())
    check = checkpoints_check(walk)
    result = Verification(walk, walk.first_problem(), check, time.monotonic() - started)
    record_check("audit_chain", ok=result.intact, problems=len(result.problems()),
                 detail="; ".join(result.problems())[:2000])
    if checkpoint and result.intact:
        try:
            result.checkpointed = audit_checkpoint(walk=walk, latest=check.latest)
        except StorageError as exc:
            result.checkpointed = CheckpointOutcome(skipped=f"not written: {exc}", problem=True)
    return result


def audit_chain_verify(*, requested_by: int | None = None, via: str = "schedule") -> AuditEvent:
    """Check the chain and its checkpoints now and record the outcome; a problem also emails
    ADMINS."""
    actor = SYSTEM
    if requested_by is not None:
        user = get_user_model().objects.filter(pk=requested_by).first()
        actor = Actor.for_user(user) if user else SYSTEM
    result = audit_chain_check()
    event = audit_record(actor=actor, action=audit_actions.AUDIT_VERIFIED, resource_type="audit_log",
                         details={"via": via, **result.details()})
    if not result.intact:
        listed = "\n".join(f"- {p}" for p in result.problems())
        mail_admins("Audit log hash chain BROKEN",
                    f"The audit log check found:\n{listed}\n{result.walk.checked} event(s) were "
                    "read; events before the first broken one are intact, the ones from it on "
                    f"cannot be trusted.\nChecked via {via}, recorded as audit event #{event.pk}.")
    return event


def audit_chain_verify_request(*, user, request=None) -> None:
    """Queue a check for the worker; the request itself is audited with where it came from."""
    audit_record(actor=Actor.for_user(user), action=audit_actions.AUDIT_VERIFY_REQUESTED,
                 resource_type="audit_log", request=request, details={"via": "admin"})
    enqueue(VERIFY_TASK, requested_by=user.pk, via="admin")


def latest_verification() -> AuditEvent | None:
    return AuditEvent.objects.filter(action=audit_actions.AUDIT_VERIFIED).order_by("-id").first()
