from django.contrib import admin
from django.db import transaction

from tenants import actions
from tenants.audit import Actor, audit_record
from tenants.models import AuditEvent, Invitation, Lab, Membership


def audit_admin_change(request, action: str, lab, resource_type: str, resource_id, **details):
    audit_record(actor=Actor.for_user(request.user), action=action, lab=lab,
                 resource_type=resource_type, resource_id=resource_id, request=request,
                 details={"via": "admin", **details})


class AuditedMembershipChanges:
    """Staff edits of memberships are audited like a manager's, in the same transaction."""

    def audit_membership_saved(self, request, membership: Membership, is_new: bool, old_role=None):
        if is_new:
            audit_admin_change(request, actions.MEMBERSHIP_ADDED, membership.lab, "membership",
                               membership.pk, email=membership.user.email, role=membership.role)
        elif old_role != membership.role:
            audit_admin_change(request, actions.MEMBERSHIP_ROLE_CHANGED, membership.lab,
                               "membership", membership.pk, email=membership.user.email,
                               role=membership.role, previous_role=old_role)

    def audit_membership_deleted(self, request, membership: Membership):
        audit_admin_change(request, actions.MEMBERSHIP_REMOVED, membership.lab, "membership",
                           membership.pk, email=membership.user.email, role=membership.role)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Lab)
class LabAdmin(AuditedMembershipChanges, admin.ModelAdmin):
    list_display = ["name", "slug", "id", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            audit_admin_change(request, actions.LAB_CREATED, obj, "lab", obj.pk, slug=obj.slug,
                               name=obj.name)
        elif form.changed_data:
            audit_admin_change(request, "lab.changed", obj, "lab", obj.pk,
                               fields=sorted(form.changed_data))

    @transaction.atomic
    def save_formset(self, request, form, formset, change):
        old_roles = {m.pk: m.role for m in Membership.objects.filter(lab=form.instance)}
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            self.audit_membership_deleted(request, membership)
            membership.delete()
        for membership in instances:
            is_new = membership.pk not in old_roles
            membership.save()
            self.audit_membership_saved(request, membership, is_new, old_roles.get(membership.pk))
        formset.save_m2m()


@admin.register(Membership)
class MembershipAdmin(AuditedMembershipChanges, admin.ModelAdmin):
    list_display = ["user", "lab", "role", "created_at"]
    list_filter = ["role", "lab"]
    search_fields = ["user__email", "lab__name"]

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        old_role = Membership.objects.filter(pk=obj.pk).values_list("role", flat=True).first()
        super().save_model(request, obj, form, change)
        self.audit_membership_saved(request, obj, is_new=not change, old_role=old_role)

    @transaction.atomic
    def delete_model(self, request, obj):
        self.audit_membership_deleted(request, obj)
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("lab", "user"):
            self.audit_membership_deleted(request, membership)
        super().delete_queryset(request, queryset)


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

    list_display = ["id", "created_at", "action", "actor_email", "lab", "summary",
                    "phi_accessed", "data_exported"]
    list_filter = ["action", "lab", "phi_accessed", "data_exported"]
    list_select_related = ["lab"]
    ordering = ["-id"]

    @admin.display(description="Details")
    def summary(self, event: AuditEvent) -> str:
        shown = {k: v for k, v in event.details.items()
                 if k in {"name", "email", "role", "read", "reason", "step", "path", "attempt",
                          "claimed_identity", "error"}}
        return ", ".join(f"{k}: {str(v)[:60]}" for k, v in shown.items()) or event.resource_type
    search_fields = ["actor_email", "resource_id", "request_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
