"""The object ledger in the admin, to look an object up; it is written only by the portal's own
writers."""

from django.contrib import admin

from common.admin import ReadOnlyAdminMixin
from storage.models import StoredObject


@admin.register(StoredObject)
class StoredObjectAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The object ledger, to look an object up; it is written only by the portal's writers."""

    list_display = ["key", "bucket", "lab", "size", "created_at", "deleted_at"]
    list_filter = ["bucket", "lab", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["key"]
    show_full_result_count = False
