"""The object ledger in the admin, to look an object up; it is written only by the portal's own
writers. The storage scrub's runs and findings, read-only too."""

from django.contrib import admin

from common.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
from storage.models import ScrubFinding, ScrubRun, StoredObject


@admin.register(StoredObject)
class StoredObjectAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The object ledger, to look an object up; it is written only by the portal's writers."""

    list_display = ["key", "bucket", "lab", "size", "created_at", "deleted_at"]
    list_filter = ["bucket", "lab", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["key"]
    show_full_result_count = False


@admin.register(ScrubFinding)
class ScrubFindingAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Objects the storage scrub found missing, changed or unreadable (storage/scrub.py); open
    ones first. Written only by the scrub, which resolves them when an object reads intact again
    or the portal has deleted it."""

    list_display = ["key", "bucket", "kind", "lab", "expected", "found", "first_seen",
                    "last_seen", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "kind", "bucket", "lab"]
    search_fields = ["key"]
    ordering = ["-first_seen"]
    show_full_result_count = False


@admin.register(ScrubRun)
class ScrubRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "started_at", "trigger", "status", "objects_checked", "bytes_read",
                    "findings_count", "new_findings_count", "finished_at"]
    list_filter = ["status", "trigger"]
    ordering = ["-started_at"]
