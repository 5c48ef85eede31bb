"""The scheduled backup: a django-q2 cron schedule (WES_BACKUP_SCHEDULE) running
`storage.backup.schedule.scheduled_backup`, which backs up to WES_BACKUP_TARGET and keeps the
newest WES_BACKUP_KEEP complete sets. A worker (`manage.py qcluster`) must be running."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import mail_admins
from django.utils import timezone

from storage.backup.database import BackupError
from storage.s3 import StorageError

TASK = "storage.backup.schedule.scheduled_backup"
NAME = "Backup: database and every bucket's versions to WES_BACKUP_TARGET"
logger = logging.getLogger(__name__)


def schedule_sync() -> tuple[str, bool]:
    """Create the schedule, or set its cron line to WES_BACKUP_SCHEDULE; (cron, changed)."""
    from croniter import croniter
    from django_q.models import Schedule

    cron = settings.BACKUP_SCHEDULE   # a valid cron line (common/env.py env_cron)
    next_run = croniter(cron, timezone.localtime()).get_next(datetime)
    schedule, created = Schedule.objects.get_or_create(
        func=TASK, defaults={"name": NAME, "schedule_type": Schedule.CRON, "cron": cron,
                             "repeats": -1, "next_run": next_run})
    if created or (schedule.cron, schedule.schedule_type) == (cron, Schedule.CRON):
        return cron, created
    schedule.cron, schedule.schedule_type, schedule.next_run = cron, Schedule.CRON, next_run
    schedule.save()
    return cron, True


def scheduled_backup() -> str:
    """One scheduled backup; a failure mails DJANGO_ADMINS and fails the task (shown in the
    admin's failed tasks)."""
    from storage.backup.run import backup_create

    if not settings.BACKUP_TARGET:
        logger.warning("scheduled backup skipped: WES_BACKUP_TARGET is not set")
        return "skipped: WES_BACKUP_TARGET is not set"
    try:
        result = backup_create(settings.BACKUP_TARGET, keep=settings.BACKUP_KEEP,
                               log=logger.info, via="schedule")
    except (BackupError, StorageError, OSError) as exc:
        mail_admins("Backup FAILED", f"The scheduled backup to {settings.BACKUP_TARGET} failed: "
                                     f"{exc}")
        raise
    if not result.ok:
        listed = "\n".join(f"- {p}" for p in result.check.problems()[:50])
        mail_admins("Backup INCOMPLETE", f"The backup {result.where} does not hold everything "
                                         f"the database records:\n{listed}")
        raise BackupError(f"backup {result.name}: {len(result.check.problems())} problem(s)")
    return (f"{result.name}: {result.versions} version(s), {result.bytes} bytes in "
            f"{result.timings.total:.1f} s; pruned {len(result.pruned)}")
