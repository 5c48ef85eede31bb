from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from jobs.models import Job
from jobs.records import archiving
from storage.buckets import bucket_name
from storage.s3 import StorageError


class Command(BaseCommand):
    help = ("Bring an archived job's files back into the results bucket, each verified against "
            "the archive's manifest. The job stays archived; its files are downloadable again.")

    def add_arguments(self, parser):
        parser.add_argument("job_id")

    def handle(self, *args, job_id: str, **options):
        try:
            job = Job.objects.get(pk=job_id)
        except (Job.DoesNotExist, ValidationError):
            raise CommandError(f"there is no job {job_id}") from None
        try:
            result = archiving.job_restore(job_id=job.pk)
        except (archiving.ArchiveError, StorageError) as exc:
            raise CommandError(str(exc)) from exc
        results = bucket_name("results")
        for path in result["restored"]:
            self.stdout.write(f"restored: {path}")
        for path in result["already_present"]:
            self.stdout.write(f"already in {results}: {path}")
        for path in result["left_in_logs"]:
            self.stdout.write(f"still in the logs bucket: {path}")
        self.stdout.write(self.style.SUCCESS(
            f"job {job.pk}: {len(result['restored'])} file(s) restored to {results} from "
            f"{job.archive_key}"))
