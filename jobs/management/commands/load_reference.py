from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from jobs.runs.reference import ReferenceError, reference_load
from storage.s3 import StorageError


class Command(BaseCommand):
    help = ("Load a reference bundle (one *.fa, *.bed and *.gff3) into the reference bucket under "
            "BUILD/, with a manifest of SHA-256 checksums that workers verify before every run.")

    def add_arguments(self, parser):
        parser.add_argument("build", help="bundle name, e.g. wes-mini")
        parser.add_argument("directory", type=Path)

    def handle(self, *args, build: str, directory: Path, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        try:
            manifest = reference_load(build=build, directory=directory)
        except (ReferenceError, StorageError) as exc:
            raise CommandError(str(exc)) from exc
        for role, entry in sorted(manifest["files"].items()):
            self.stdout.write(f"{role:<11} {entry['name']:<20} {entry['size']:>12,} bytes  "
                              f"sha256 {entry['sha256']}")
        self.stdout.write(self.style.SUCCESS(f"reference build {build} loaded and verified"))
