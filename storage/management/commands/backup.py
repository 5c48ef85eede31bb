from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.sizes import format_size
from storage.backup.database import BackupError
from storage.backup.run import backup_create
from storage.backup.schedule import schedule_sync
from storage.backup.target import Target
from storage.s3 import StorageError


class Command(BaseCommand):
    help = ("Write a backup set: a pg_dump of the database, every bucket's objects (all versions "
            "in versioned buckets) and a manifest of keys, versions and SHA-256s cross-checked "
            "against the database, to a directory, an rclone remote (name:path) or "
            "s3://bucket/path. Exit status 1 when the set lacks something the database records.")

    def add_arguments(self, parser):
        parser.add_argument("target", nargs="?", default="",
                            help="where the set goes (default WES_BACKUP_TARGET)")
        parser.add_argument("--keep", type=int, default=None,
                            help="afterwards keep only the newest N complete sets (default "
                                 "WES_BACKUP_KEEP when the target is WES_BACKUP_TARGET)")
        parser.add_argument("--list", action="store_true", help="list the target's sets")
        parser.add_argument("--schedule", action="store_true",
                            help="create or update the scheduled backup from "
                                 "WES_BACKUP_SCHEDULE, then exit")

    def handle(self, *args, target: str, keep: int | None, **options):
        try:
            if options["schedule"]:
                cron, changed = schedule_sync()
                self.stdout.write(f"scheduled backup: {cron!r} ({'set' if changed else 'unchanged'}"
                                  f"); target {settings.BACKUP_TARGET or '(not set: skipped)'}, "
                                  f"keeps {settings.BACKUP_KEEP}")
                return
            spec = target or settings.BACKUP_TARGET
            if options["list"]:
                for name, complete in Target.parse(spec).sets():
                    self.stdout.write(f"{name}  {'complete' if complete else 'INCOMPLETE'}")
                return
            if keep is None and not target:
                keep = settings.BACKUP_KEEP
            if keep is not None and keep < 1:
                raise CommandError("--keep must be at least 1")
            result = backup_create(spec, keep=keep, log=self.stdout.write)
        except (BackupError, StorageError) as exc:
            raise CommandError(str(exc)) from exc
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.timings.steps.items())
        for name in result.pruned:
            self.stdout.write(f"pruned {name}")
        check = result.check
        if check.pending:
            self.stdout.write(self.style.WARNING(
                f"{len(check.pending)} object(s) in the ledger are not stored yet (uploads in "
                f"progress): {', '.join(check.pending[:5])}"))
        if not result.ok:
            raise CommandError(f"backup {result.where} is INCOMPLETE:\n  "
                               + "\n  ".join(check.problems()))
        self.stdout.write(self.style.SUCCESS(
            f"backup {result.where}: {result.versions} version(s), {format_size(result.bytes)}; "
            f"{check.live_objects} live object(s) and {check.digests_checked} recorded "
            f"SHA-256(s) match; {steps}"))
