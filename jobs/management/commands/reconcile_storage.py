from django.core.management.base import BaseCommand, CommandError

from common.sizes import format_size
from jobs.models import ReconciliationStatus
from jobs.records.reconciliation import storage_reconcile


class Command(BaseCommand):
    help = ("List every bucket (ListObjectsV2, per lab prefix), compare with the object ledger, "
            "record a snapshot and flag differences: objects nobody recorded, recorded objects "
            "that are gone, sizes that differ. Exits 1 when storage cannot be listed or a "
            "difference is flagged, so it fits a monitoring check. The same runs nightly.")

    def handle(self, *args, **options):
        run = storage_reconcile(trigger="command")
        if run.status == ReconciliationStatus.FAILED:
            raise CommandError(f"reconciliation failed: {run.error}")
        for snapshot in run.snapshots.select_related("lab").order_by("bucket_role", "lab__name"):
            owner = snapshot.lab.name if snapshot.lab else "no lab"
            line = (f"{snapshot.bucket} / {owner}: {snapshot.object_count} objects, "
                    f"{format_size(snapshot.bytes_listed)}")
            if snapshot.expired_count:
                line += f"; {snapshot.expired_count} removed by the expiry rule (ledger closed)"
            self.stdout.write(line)
            for entry in snapshot.unrecorded_sample:
                self.stdout.write(self.style.ERROR(
                    f"  unrecorded: {entry['key']} ({entry['size']} bytes) is in storage but "
                    "in no ledger row"))
            for entry in snapshot.missing_sample:
                self.stdout.write(self.style.ERROR(
                    f"  missing: {entry['key']} ({entry['size']} bytes) is in the ledger but "
                    "not in storage"))
            for entry in snapshot.size_mismatch_sample:
                self.stdout.write(self.style.ERROR(
                    f"  size differs: {entry['key']} is {entry['listed']} bytes in storage, "
                    f"{entry['recorded']} in the ledger"))
        summary = (f"run {run.pk}: {run.objects_listed} objects, "
                   f"{format_size(run.bytes_listed)} in {run.list_requests} list requests")
        if run.status == ReconciliationStatus.DIFFERENCES:
            raise CommandError(
                f"{summary}; {run.unrecorded_count} unrecorded, {run.missing_count} missing, "
                f"{run.size_mismatch_count} with another size (see the run in the admin)")
        self.stdout.write(self.style.SUCCESS(f"{summary}; storage matches the ledger"))
