from django.contrib import admin

from tenants.models import AuditEvent, Invitation, Lab, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "id", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "lab", "role", "created_at"]
    list_filter = ["role", "lab"]
    search_fields = ["user__email", "lab__name"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "lab", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["lab", "role"]
    search_fields = ["email"]
    exclude = ["token_hash"]
    readonly_fields = ["invited_by", "accepted_by", "accepted_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: audit events are never added, changed or deleted by hand."""

    list_display = ["id", "created_at", "action", "actor_email", "lab", "resource_type",
                    "resource_id", "phi_accessed", "data_exported", "ip_address"]
    list_filter = ["action", "lab", "phi_accessed", "data_exported"]
    list_select_related = ["lab"]
    search_fields = ["actor_email", "resource_id", "request_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
