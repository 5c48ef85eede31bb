from django.core.management.base import BaseCommand, CommandError

from common.months import parse_month, previous_month
from storage.s3 import StorageError
from tenants.audit_export import AuditExportError, audit_export_month
from tenants.models import AuditExport


class Command(BaseCommand):
    help = ("Write one month of audit events as gzip JSON Lines to the logs bucket and record its "
            "SHA-256; a month already exported is verified instead. Default: the previous month.")

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM (default: the previous month)")

    def handle(self, *args, **options):
        try:
            month = parse_month(options["month"]) if options["month"] else previous_month()
            existed = AuditExport.objects.filter(month=month).exists()
            export = audit_export_month(month=month)
        except (ValueError, AuditExportError, StorageError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "already exported; verified" if existed else "exported"
        self.stdout.write(self.style.SUCCESS(
            f"{export.month:%Y-%m} {verb}: {export.event_count} event(s) "
            f"(#{export.first_event_id or '-'} to #{export.last_event_id or '-'}), "
            f"{export.bucket}/{export.key}, {export.size} bytes, sha256 {export.sha256}"))
