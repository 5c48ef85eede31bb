from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.sizes import format_size
from storage.backup.database import BackupError
from storage.backup.restore import backup_restore
from storage.s3 import StorageError


class Command(BaseCommand):
    help = ("Restore a backup set into an empty stack: pg_restore into the (empty) database of "
            "DATABASE_URL, setup_storage on the S3 server of MINIO_ENDPOINT, every object version "
            "put back in order with its Object Lock retention and legal hold; then every version "
            "is read back and hashed against the manifest, the database's records are held "
            "against it and verify_audit runs. Exit status 1 on any difference.")

    def add_arguments(self, parser):
        parser.add_argument("target", nargs="?", default="",
                            help="where the sets are (default WES_BACKUP_TARGET)")
        parser.add_argument("--set", default="latest",
                            help="the set's name (wes-backup-YYYYMMDDTHHMMSSZ); default the "
                                 "newest complete one")
        parser.add_argument("--skip-audit", action="store_true",
                            help="do not run verify_audit afterwards (e.g. when the audit keys "
                                 "are not configured yet)")

    def handle(self, *args, target: str, **options):
        try:
            result = backup_restore(target or settings.BACKUP_TARGET, options["set"],
                                    log=self.stdout.write, check_audit=not options["skip_audit"])
        except (BackupError, StorageError, FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.timings.steps.items())
        if result.audit:
            self.stdout.write(result.audit)
        for note in result.notes:
            self.stdout.write(self.style.WARNING(note))
        if not result.ok:
            raise CommandError(f"restore of {result.name} found {len(result.problems)} "
                               "problem(s):\n  " + "\n  ".join(result.problems[:100]))
        self.stdout.write(self.style.SUCCESS(
            f"restored {result.name}: {result.versions} version(s), "
            f"{format_size(result.bytes)}, read back and matching the manifest and the database; {result.locks} retention(s) and "
            f"{result.holds} legal hold(s) re-applied; {steps}"))
