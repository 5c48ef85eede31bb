from django.core.management.base import BaseCommand, CommandError

from storage import provisioning
from storage.buckets import REGISTRY
from storage.s3 import StorageError


class Command(BaseCommand):
    help = ("Create the portal's buckets and apply versioning, default encryption and lifecycle "
            "rules (idempotent). With --check, only report drift and exit 1 when there is any.")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true",
                            help="report differences between configuration and server; change nothing")

    def handle(self, *args, check: bool = False, **options):
        try:
            report = provisioning.plan() if check else provisioning.apply()
        except StorageError as exc:
            raise CommandError(str(exc)) from exc

        for line in report.unsupported:
            self.stderr.write(self.style.WARNING(f"not supported by this server: {line}"))
        if check:
            for drift in report.drift:
                self.stdout.write(self.style.ERROR(f"drift: {drift}"))
            if report.drift:
                raise CommandError(f"{len(report.drift)} difference(s) between configuration "
                                   "and server; run `manage.py setup_storage` to fix them")
            self.stdout.write(self.style.SUCCESS(
                f"no drift: {len(REGISTRY)} buckets match the configuration"))
            return
        for change in report.changes:
            self.stdout.write(f"changed: {change}")
        summary = f"{len(report.changes)} change(s)" if report.changes else "nothing to change"
        self.stdout.write(self.style.SUCCESS(
            f"storage ready: {len(REGISTRY)} buckets, {summary}"))
