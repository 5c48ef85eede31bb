"""Telling the layers above about a backup or a restore: every set written is an export of every
lab's data, and a restore rebuilds it, so each must reach the audit log. Storage cannot import
the audit log, so tenants registers a listener (tenants/backup_audit.py, wired in
tenants/apps.py), as it does for the scrub's findings (storage/scrub_report.py).

A listener's error propagates: a backup whose export could not be audited must not look as if
it had succeeded."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

logger = logging.getLogger(__name__)

BACKUP = "backup"
RESTORE = "restore"
FINISHED = "finished"
FAILED = "failed"


@dataclass(frozen=True)
class BackupEvent:
    """One backup set written (or attempted), or one restore.

    `details` are what the audit event records: for a backup the set's name, target, versions,
    bytes, the dump's SHA-256 and the cross-check's outcome; for a restore the set, the
    database and buckets restored into, and the problems found. `via` is "command" or
    "schedule"."""

    kind: str
    outcome: str
    set_name: str
    via: str
    details: dict = field(default_factory=dict)


BackupListener = Callable[[BackupEvent], "str | None"]
_LISTENERS: list[BackupListener] = []


def register_backup_listener(listener: BackupListener) -> BackupListener:
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)
    return listener


def report_backup_event(event: BackupEvent) -> list[str]:
    """Hand the event to every listener; returns what they say (e.g. why a restore's event
    could not be written)."""
    said: list[str] = []
    for listener in _LISTENERS:
        answer = listener(event)
        if answer:
            said.append(answer)
    return said


def report_failure(event: BackupEvent) -> None:
    """Report a failed backup or restore; an error in the report itself is logged, so that the
    failure the caller sees is the original one."""
    try:
        report_backup_event(event)
    except Exception:
        logger.exception("the failed %s of %s could not be reported", event.kind, event.set_name)
