import csv
import json
import re

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max, Q
from django.http import HttpResponseBadRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from common.admin import CappedCountPaginator, LargeTableAdminMixin, ReadOnlyAdminMixin
from common.csv_cells import csv_cell
from tenants import audit_actions
from tenants.audit import Actor, audit_record, event_hash_matches
from tenants.audit_filters import ActionFilter, ActorFilter, CreatedBetweenFilter, MonthFilter
from tenants.audit_verify import audit_chain_verify_request, latest_verification
from tenants.models import AuditEvent, AuditExport, Invitation, Lab, Membership
from tenants import user_admin  # noqa: F401  (registers the user pages)


def audit_admin_change(request, action: str, lab, resource_type: str, resource_id, **details):
    audit_record(actor=Actor.for_user(request.user), action=action, lab=lab,
                 resource_type=resource_type, resource_id=resource_id, request=request,
                 details={"via": "admin", **details})


class AuditedMembershipChanges:
    """Staff edits of memberships are audited like a manager's, in the same transaction."""

    def audit_membership_saved(self, request, membership: Membership, is_new: bool, old_role=None):
        if is_new:
            audit_admin_change(request, audit_actions.MEMBERSHIP_ADDED, membership.lab, "membership",
                               membership.pk, email=membership.user.email, role=membership.role)
        elif old_role != membership.role:
            audit_admin_change(request, audit_actions.MEMBERSHIP_ROLE_CHANGED, membership.lab,
                               "membership", membership.pk, email=membership.user.email,
                               role=membership.role, previous_role=old_role)

    def audit_membership_deleted(self, request, membership: Membership):
        audit_admin_change(request, audit_actions.MEMBERSHIP_REMOVED, membership.lab, "membership",
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
            audit_admin_change(request, audit_actions.LAB_CREATED, obj, "lab", obj.pk, slug=obj.slug,
                               name=obj.name)
        elif form.changed_data:
            audit_admin_change(request, audit_actions.LAB_CHANGED, obj, "lab", obj.pk,
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


UUID_LIKE = re.compile(r"^[0-9a-fA-F-]{8,36}$")


class Echo:
    """csv.writer writes into this, and the written line is handed straight to the response."""

    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = ["id", "created_at", "actor_id", "actor_email", "lab_id", "lab__slug", "action",
               "resource_type", "resource_id", "phi_accessed", "data_exported", "ip_address",
               "user_agent", "request_id", "details", "prev_hash", "hash"]
CSV_HEADERS = {"lab__slug": "lab_slug"}

@admin.register(AuditEvent)
class AuditEventAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: audit events are never added, changed or deleted by hand, not even by a
    superuser (PostgreSQL would refuse anyway); staff can filter, export and verify them."""

    # The two flags before the free-text details, so a narrow screen never hides them.
    list_display = ["id", "when", "action", "actor_email", "lab", "resource", "phi", "exported",
                    "summary"]
    list_filter = ["lab", ActorFilter, ActionFilter, "phi_accessed", "data_exported", MonthFilter,
                   CreatedBetweenFilter]
    list_select_related = ["lab"]
    search_fields = ["resource_id"]   # searched by get_search_results below, through indexes
    search_help_text = ("Search by a resource id, a sample id or a request id (whole, or its "
                        "beginning), or an actor's email (whole).")
    ordering = ["-id"]
    list_per_page = 50
    change_list_template = "admin/tenants/auditevent/change_list.html"
    fieldsets = [
        (None, {"fields": ["id", "created_at", "action", "actor_id", "actor_email", "lab",
                           "resource_type", "resource_id", "details_json"]}),
        ("Access", {"fields": ["phi_accessed", "data_exported", "ip_address", "user_agent",
                               "request_id"]}),
        ("Hash chain", {"fields": ["integrity", "prev_hash", "hash"]}),
    ]
    readonly_fields = ["details_json", "integrity"]

    @admin.display(description="PHI", boolean=True, ordering="phi_accessed")
    def phi(self, event: AuditEvent) -> bool:
        return event.phi_accessed

    @admin.display(description="Export", boolean=True, ordering="data_exported")
    def exported(self, event: AuditEvent) -> bool:
        return event.data_exported

    @admin.display(description="When", ordering="created_at")
    def when(self, event: AuditEvent) -> str:
        return f"{timezone.localtime(event.created_at):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="Details")
    def summary(self, event: AuditEvent) -> str:
        shown = {k: v for k, v in event.details.items()
                 if k in {"name", "email", "role", "read", "reason", "step", "path", "attempt",
                          "claimed_identity", "error", "rows", "checked", "month"}}
        return ", ".join(f"{k}: {str(v)[:60]}" for k, v in shown.items())

    @admin.display(description="Resource", ordering="resource_id")
    def resource(self, event: AuditEvent) -> str:
        """A UUID shortened to its first 8 characters, whole on hover (search takes any part)."""
        rid = event.resource_id
        if len(rid) == 36 and rid.count("-") == 4:
            return format_html('{} <span title="{}">{}…</span>', event.resource_type, rid, rid[:8])
        return f"{event.resource_type} {rid}".strip()

    @admin.display(description="Details")
    def details_json(self, event: AuditEvent) -> str:
        return format_html('<pre style="margin:0">{}</pre>',
                           json.dumps(event.details, indent=2, sort_keys=True))

    @admin.display(description="This row")
    def integrity(self, event: AuditEvent) -> str:
        matches = event_hash_matches(event)
        if matches:
            return "its contents match its hash"
        if matches is None:
            return format_html('<strong style="color:var(--error-fg)">{}</strong>',
                               f"CANNOT BE CHECKED: audit key {event.key_id!r} is not in "
                               "WES_AUDIT_KEYS")
        return format_html('<strong style="color:var(--error-fg)">{}</strong>',
                           "EDITED: its contents do not match its hash")

    def get_search_results(self, request, queryset, search_term):
        """Each kind of term through its own index (tenants/models.py): an email by the
        upper-cased actor email; anything else as the beginning of a resource id or a request
        id, or a sample's id in the event's details. Never a scan for "any part" of a column."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            return queryset.filter(actor_email__iexact=term), False
        match = Q(resource_id__startswith=term) | Q(request_id__startswith=term)
        if UUID_LIKE.match(term) and len(term) == 36:
            match |= Q(details__has_key="sample", details__sample=term.lower())
        # The matching ids first, through the indexes (a bitmap of the three): asked for the
        # newest 50 with this OR, PostgreSQL walks the whole log backwards by id instead, 350 ms
        # at a million events when a sample has only a few dozen. Many matches (a short prefix)
        # are found quickly that way, so they keep the plain filter.
        ids = list(queryset.filter(match).order_by().values_list("id", flat=True)
                   [:CappedCountPaginator.COUNT_CAP + 1])
        if len(ids) <= CappedCountPaginator.COUNT_CAP:
            return queryset.filter(id__in=ids), False
        return queryset.filter(match), False

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "chain_check": latest_verification()})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export/", wrap(require_POST(self.export_view)), name="tenants_auditevent_export"),
            path("verify/", wrap(require_POST(self.verify_view)), name="tenants_auditevent_verify"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """CSV of exactly the rows the changelist shows for the same filters and search, as of
        now: the export's own audit event (written first) is not part of it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            return HttpResponseBadRequest(f"These filters cannot be applied: {exc}",
                                          content_type="text/plain")
        errors = [e for spec in changelist.filter_specs for e in getattr(spec, "errors", [])]
        if errors:
            return HttpResponseBadRequest("Nothing was exported: " + "; ".join(errors),
                                          content_type="text/plain")
        queryset = changelist.queryset
        snapshot = queryset.aggregate(rows=Count("id"), last_id=Max("id"))
        filters = {name: values if len(values) > 1 else values[0]
                   for name, values in request.GET.lists()}
        # An export of one lab's events is filed under that lab too, so its managers' reviews
        # find it; the filter has already been validated by the changelist.
        lab_id = request.GET.get("lab__id__exact")
        lab = Lab.objects.filter(pk=lab_id).first() if lab_id else None
        with transaction.atomic():
            audit_record(actor=Actor.for_user(request.user), action=audit_actions.AUDIT_EXPORTED,
                         lab=lab, resource_type="audit_log", data_exported=True, request=request,
                         details={"via": "admin", "filters": filters, "rows": snapshot["rows"],
                                  "last_event_id": snapshot["last_id"], "format": "csv"})
        rows = queryset.filter(id__lte=snapshot["last_id"] or 0).values_list(*CSV_COLUMNS)
        writer = csv.writer(Echo())

        def lines():
            yield writer.writerow([CSV_HEADERS.get(c, c) for c in CSV_COLUMNS])
            for row in rows.iterator(chunk_size=2000):
                yield writer.writerow([csv_cell(value) for value in row])

        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
        return response

    def verify_view(self, request):
        """Queue a walk of the whole chain for the worker; the list shows its outcome."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        audit_chain_verify_request(user=request.user, request=request)
        messages.info(request, "Hash chain check queued. It reads every event (about 20 s per "
                               "million); reload this page to see its outcome above the list.")
        back = reverse("admin:tenants_auditevent_changelist")
        return HttpResponseRedirect(f"{back}?{request.GET.urlencode()}" if request.GET else back)


@admin.register(AuditExport)
class AuditExportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Monthly exports of the audit log to the logs bucket (written by a scheduled task)."""

    list_display = ["month_label", "event_count", "first_event_id", "last_event_id", "size",
                    "sha256", "key", "created_at"]
    ordering = ["-month"]

    @admin.display(description="Month", ordering="month")
    def month_label(self, export: AuditExport) -> str:
        return f"{export.month:%Y-%m}"

