from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from jobs.models import Job
from jobs.records import archiving
from storage.s3 import StorageError


class Command(BaseCommand):
    help = ("Archive succeeded jobs past the results period (WES_ARCHIVE_AFTER_DAYS) into verified "
            "tar.gz files in the archives bucket, then purge archives past the archive period "
            "(WES_ARCHIVE_RETENTION_DAYS). Jobs under legal hold are skipped. The daily schedule "
            "does the same.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="list what would be archived and purged; change nothing")
        parser.add_argument("--job", metavar="JOB_ID",
                            help="archive this one job now, whatever its age")

    def handle(self, *args, dry_run: bool = False, job: str | None = None, **options):
        if job:
            return self.archive_one(job, dry_run)
        failed = 0
        for label, run in (("archive", archiving.archive_due), ("purge", archiving.purge_expired)):
            result = run(dry_run=dry_run)
            verb = f"would {label}" if dry_run else f"{label}d"
            for job_id in result["done"]:
                self.stdout.write(f"{verb}: {job_id}")
            for job_id in result["held"]:
                self.stdout.write(self.style.WARNING(f"not {label}d, under legal hold: {job_id}"))
            for job_id, error in result["failed"].items():
                self.stderr.write(self.style.ERROR(f"{label} failed: {job_id}: {error}"))
            failed += len(result["failed"])
            self.stdout.write(self.style.SUCCESS(
                f"{label}: {len(result['done'])} {'due' if dry_run else 'done'}, "
                f"{len(result['held'])} held, {len(result['failed'])} failed"))
        if failed:
            raise CommandError(f"{failed} job(s) failed; nothing of theirs was deleted")

    def archive_one(self, job_id: str, dry_run: bool) -> None:
        try:
            found = Job.objects.get(pk=job_id)
        except (Job.DoesNotExist, ValidationError):
            raise CommandError(f"there is no job {job_id}") from None
        if dry_run:
            self.stdout.write(f"would archive: {found.pk} ({found.status})")
            return
        try:
            archived = archiving.job_archive(job_id=found.pk)
        except (archiving.ArchiveError, StorageError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"archived: {archived.pk} -> {archived.archive_key} ({archived.archive_size:,} bytes, "
            f"SHA-256 {archived.archive_sha256})"))
