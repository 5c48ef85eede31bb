from django.core.management.base import BaseCommand, CommandError

from tenants.audit_verify import audit_chain_check


class Command(BaseCommand):
    help = ("Check the audit log's hash chain and its checkpoints in the logs bucket; report the "
            "first row that was edited or removed, truncation after a checkpoint, a recomputed "
            "chain and checkpoints without retention (exit status 1 on any of them). An intact "
            "chain is checkpointed again.")

    def add_arguments(self, parser):
        parser.add_argument("--no-checkpoint", action="store_true",
                            help="only check; do not write a new checkpoint")

    def handle(self, *args, **options):
        result = audit_chain_check(checkpoint=not options["no_checkpoint"])
        walk, check = result.walk, result.checkpoints
        if not result.intact:
            raise CommandError(
                "audit chain " + "; ".join(
                    [f"broken at {result.broken.describe()}"] if result.broken else ["checked"])
                + f" ({walk.checked} row(s) read)"
                + "".join(f"\n  checkpoint problem: {f.message}" for f in check.findings))
        self.stdout.write(self.style.SUCCESS(
            f"audit chain intact: {walk.checked} event(s) verified in {result.seconds:.1f} s; "
            f"{check.checkpoints} checkpoint(s) hold"
            + (f" ({check.past_retention} past their retention)" if check.past_retention else "")))
        if result.checkpointed is not None:
            written = result.checkpointed.written
            self.stdout.write(f"checkpoint written: event #{written.last_id} ({written.key})"
                              if written else f"checkpoint {result.checkpointed.skipped}")
