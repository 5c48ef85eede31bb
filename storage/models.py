from django.db import models
from django.db.models import Q
from django.utils import timezone


class StoredObject(models.Model):
    """The ledger: one row per object the portal wrote, closed when the portal deletes it.

    The portal writes every object itself, so usage reports come from this table instantly; the
    nightly reconciliation compares it with what the storage server lists.
    """

    id = models.BigAutoField(primary_key=True)
    bucket = models.CharField(max_length=63)
    key = models.CharField(max_length=1024)
    # By name, not import: storage sits below tenants and imports no app (DESIGN.md).
    lab = models.ForeignKey("tenants.Lab", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="+")
    job_id = models.UUIDField(null=True, blank=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bucket", "key"],
                                               condition=Q(deleted_at__isnull=True),
                                               name="one_live_ledger_row_per_key")]
        indexes = [models.Index(fields=["lab", "bucket"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.bucket}/{self.key}"
