"""The audit log: one service that records events, and the chain check that proves none was edited.

Every event stores the previous event's hash and its own SHA-256 over a canonical form of its
fields, so changing, removing or inserting a row anywhere breaks the chain from that row on.
Writers are serialised (an advisory lock on PostgreSQL, IMMEDIATE transactions on SQLite) so two
events never claim the same predecessor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timezone as dt_timezone

from django.db import connection, transaction
from django.utils import timezone

from tenants.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any fixed 64-bit number; it names the lock that serialises writers of the audit chain.
AUDIT_CHAIN_LOCK = 0x5745_5341_5544_4954


@dataclass(frozen=True)
class Actor:
    id: str
    email: str

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(id=f"user:{user.pk}", email=user.email or user.get_username())

    @classmethod
    def anonymous(cls, claimed_email: str = "") -> "Actor":
        return cls(id="anonymous", email=(claimed_email or "unknown")[:254])


SYSTEM = Actor(id="system", email="system@wes-portal")


def canonical_form(event: AuditEvent) -> bytes:
    created = event.created_at.astimezone(dt_timezone.utc).isoformat(timespec="microseconds")
    payload = {
        "created_at": created,
        "actor_id": event.actor_id,
        "actor_email": event.actor_email,
        "lab_id": str(event.lab_id) if event.lab_id else None,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "details": event.details,
        "phi_accessed": event.phi_accessed,
        "data_exported": event.data_exported,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_form(event)).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK])
    # SQLite: the settings open every transaction with BEGIN IMMEDIATE, which already holds the
    # database's single write lock for the rest of the transaction.


def _client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor: Actor,
    action: str,
    lab=None,
    resource_type: str = "",
    resource_id: str = "",
    details: dict | None = None,
    phi_accessed: bool = False,
    data_exported: bool = False,
    request=None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction (so it commits or rolls back
    with the action it records)."""
    with transaction.atomic():
        _lock_chain()
        previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            created_at=timezone.now(),
            actor_id=actor.id,
            actor_email=actor.email,
            lab_id=lab.pk if lab is not None else None,
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            details=_json_round_trip(details or {}),
            phi_accessed=phi_accessed,
            data_exported=data_exported,
            ip_address=_client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512] if request is not None else "",
            request_id=getattr(request, "request_id", "") if request is not None else "",
            prev_hash=previous or GENESIS_HASH,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
        return event


def _json_round_trip(details: dict) -> dict:
    # Hash exactly what the database will give back (UUIDs and dates become strings now, not later).
    return json.loads(json.dumps(details, default=str))


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def verify_chain(batch_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walk the chain in order; return how many rows were checked and the first broken one."""
    expected_prev = GENESIS_HASH
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=batch_size):
        checked += 1
        if event.prev_hash != expected_prev:
            return checked, ChainBreak(event.id, "its previous-hash does not match the row before it "
                                                 "(a row was removed, inserted or reordered)")
        if event_hash(event) != event.hash:
            return checked, ChainBreak(event.id, "its contents do not match its hash "
                                                 "(the row was edited)")
        expected_prev = event.hash
    return checked, None
