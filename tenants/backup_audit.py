"""The audit trail of backups and restores (storage/backup/): a backup set is an export of every
lab's data, so each set written or attempted is one event, and so is each restore. Storage
cannot import the audit log, so tenants listens (tenants/apps.py).

A restore's event goes into the restored database, after its chain was checked. It is written
only when the chain's newest event verifies under the configured audit keys: an event appended
under a key that is not the chain's (a restore before WES_AUDIT_KEYS is configured, whose
development key would chain it) would break `verify_audit` for good once the right keys are set.
"""

from __future__ import annotations

from storage.backup.events import BACKUP, BackupEvent
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record, event_hash_matches
from tenants.models import AuditEvent


def audit_backup_event(event: BackupEvent) -> str | None:
    if event.kind == BACKUP:
        audit_record(actor=SYSTEM, action=audit_actions.BACKUP_WRITTEN,
                     resource_type="backup_set", resource_id=event.set_name,
                     phi_accessed=True, data_exported=True,
                     details={"set": event.set_name, "outcome": event.outcome, "via": event.via,
                              **event.details})
        return None
    newest = AuditEvent.objects.order_by("-id").first()
    if newest is not None and not event_hash_matches(newest):
        return (f"the restore is not in the audit log: the chain's newest event (#{newest.pk}) "
                f"does not verify under WES_AUDIT_KEYS (key {newest.key_id!r}), and an event "
                "chained under another key would break the chain; configure the audit keys, "
                "run verify_audit, and note the restore of "
                f"{event.set_name} ({event.outcome}) by hand")
    audit_record(actor=SYSTEM, action=audit_actions.BACKUP_RESTORED,
                 resource_type="backup_set", resource_id=event.set_name,
                 details={"set": event.set_name, "outcome": event.outcome, "via": event.via,
                          **event.details})
    return None
