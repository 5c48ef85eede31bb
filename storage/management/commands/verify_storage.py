"""Re-read stored objects and compare their size and SHA-256 with the ledger and the records
(storage/scrub.py). Exit status: 0 nothing wrong, 1 objects missing, changed or unreadable (open
findings seen by this run), 2 storage unavailable (the run is kept and can be resumed), 130
interrupted (resumable)."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandError

from storage import scrub
from storage.models import ScrubStatus


class Command(BaseCommand):
    help = ("Re-read stored objects (all, a rotating sample, or the rest of an interrupted run) "
            "and compare size and SHA-256 with the database; exits 1 when any is missing, "
            "changed or unreadable.")

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--all", action="store_true",
                          help="check every object from the first key (the default)")
        mode.add_argument("--sample", type=int, metavar="N",
                          help="check the next N objects after where the previous run stopped, "
                               "going round to the first key at the end")
        mode.add_argument("--resume", action="store_true",
                          help="continue the latest interrupted or failed run from its cursor")

    def handle(self, *args, **options):
        sample = options["sample"]
        if sample is not None and sample < 1:
            raise CommandError("--sample takes a number of objects of at least 1")
        if scrub.running_run() is not None:
            raise CommandError("another scrub is running (its heartbeat is recent); wait for it "
                               "or stop it first")
        if options["resume"]:
            run = scrub.unfinished_run()
            if run is None:
                raise CommandError("there is no interrupted or failed scrub run to resume")
            self.stdout.write(f"Resuming run {run.pk} after {run.cursor_bucket}/{run.cursor_key}"
                              f" ({run.objects_checked:,} objects already checked).")
        else:
            run = scrub.scrub_start(trigger="command", limit=sample)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            run = scrub.scrub_continue(run)
        except KeyboardInterrupt:
            run.refresh_from_db()
            self.stderr.write(f"Interrupted after {run.objects_checked:,} objects (last checked: "
                              f"{run.cursor_bucket}/{run.cursor_key}); `verify_storage --resume` "
                              "continues from there.")
            raise SystemExit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)
        self._summary(run)

    def _summary(self, run) -> None:
        if run.status == ScrubStatus.FAILED:
            raise CommandError(f"storage unavailable after {run.objects_checked:,} objects: "
                               f"{run.error} (`verify_storage --resume` continues this run)",
                               returncode=2)
        self.stdout.write(f"Run {run.pk}: {run.objects_checked:,} objects checked, "
                          f"{run.bytes_read:,} bytes read"
                          + (f", {run.objects_size_only:,} by size only (no SHA-256 recorded)"
                             if run.objects_size_only else "") + ".")
        for finding in run.findings.order_by("bucket", "key"):
            self.stdout.write(f"NEW {finding.get_kind_display()}: {finding.bucket}/{finding.key} "
                              f"(expected {finding.expected}; found {finding.found})")
        if run.findings_count:
            still_open = run.findings_count - run.new_findings_count
            raise CommandError(
                f"{run.findings_count} object(s) missing, changed or unreadable "
                f"({run.new_findings_count} new, {still_open} already reported); "
                "see Object storage > Scrub findings in the admin", returncode=1)
        self.stdout.write(self.style.SUCCESS("Every object checked matches its records."))


def _interrupt(signum, frame):
    raise KeyboardInterrupt
