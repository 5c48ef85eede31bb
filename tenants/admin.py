import csv
import json
import re
from datetime import date, datetime, timedelta

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Max, Min, Q
from django.utils.functional import cached_property
from django.http import HttpResponseBadRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from common.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
from common.csv_cells import csv_cell
from tenants import audit_actions
from tenants.audit import Actor, audit_record, event_hash_matches
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


class ActorFilter(admin.SimpleListFilter):
    """By user. Events keep the actor as "user:<pk>" (never a foreign key), so the choices are the
    portal's users plus the two actors that are not users."""

    title = "user"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.order_by("email").values_list("pk", "email")
        return [("system", "system (tasks and commands)"),
                ("anonymous", "anonymous (failed sign-ins)"),
                *((f"user:{pk}", email) for pk, email in users)]

    def queryset(self, request, queryset):
        return queryset.filter(actor_id=self.value()) if self.value() else queryset


class CreatedBetweenFilter(admin.ListFilter):
    """By date range: events from one day to another, both included, in the portal's time zone.

    A small filter of our own rather than django-admin-rangefilter, which would need an
    INSTALLED_APPS entry and its template tags for what two <input type=date> fields do.
    """

    title = "date range"
    template = "admin/tenants/date_range_filter.html"
    parameter_names = ("created_from", "created_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.errors: list[str] = []
        self.dates: dict[str, date] = {}
        for name in self.parameter_names:
            raw = (params.pop(name, None) or [""])[-1].strip()
            if not raw:
                continue
            self.used_parameters[name] = raw
            try:
                self.dates[name] = date.fromisoformat(raw)
            except ValueError:
                self.errors.append(f"{raw!r} is not a date (YYYY-MM-DD); the date range is not "
                                   "applied")
        start, end = self.dates.get("created_from"), self.dates.get("created_to")
        if start and end and start > end:
            self.errors.append(f"the range starts ({start}) after it ends ({end}); nothing "
                               "matches it")

    def has_output(self) -> bool:
        return True

    def expected_parameters(self):
        return list(self.parameter_names)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        zone = timezone.get_current_timezone()
        start, end = self.dates.get("created_from"), self.dates.get("created_to")
        return (datetime.combine(start, datetime.min.time(), tzinfo=zone) if start else None,
                datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone)
                if end else None)

    def queryset(self, request, queryset):
        if any("is not a date" in error for error in self.errors):
            return queryset
        start, end = self.bounds()
        if start:
            queryset = queryset.filter(created_at__gte=start)
        if end:
            queryset = queryset.filter(created_at__lt=end)
        return queryset

    def choices(self, changelist):
        # One "choice": a GET form that keeps every other filter, the search and the ordering.
        keep = [(name, value) for name, values in changelist.filter_params.items()
                if name not in self.parameter_names for value in values]
        yield {"hidden": keep, "errors": self.errors, "active": bool(self.used_parameters),
               "created_from": self.used_parameters.get("created_from", ""),
               "created_to": self.used_parameters.get("created_to", ""),
               "clear_query_string": changelist.get_query_string(
                   remove=list(self.parameter_names))}


class ActionFilter(admin.SimpleListFilter):
    """By action, from the list of audited actions (tenants/audit_actions.py): Django's own
    filter would read DISTINCT action over every row to draw its links."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        names = sorted(value for name, value in vars(audit_actions).items()
                       if name.isupper() and isinstance(value, str))
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


class MonthFilter(admin.SimpleListFilter):
    """The date links of the audit list: the months from the first event to the last, newest
    first. Django's date_hierarchy draws its links from a DISTINCT over every row (700 ms at a
    million events); the first and last event's times are two reads of the created_at index."""

    title = "month"
    parameter_name = "month"
    MONTHS_SHOWN = 24

    def lookups(self, request, model_admin):
        bounds = model_admin.model.objects.aggregate(first=Min("created_at"),
                                                     last=Max("created_at"))
        if not bounds["first"]:
            return []
        zone = timezone.get_current_timezone()
        first = timezone.localtime(bounds["first"], zone).date().replace(day=1)
        month = timezone.localtime(bounds["last"], zone).date().replace(day=1)
        found = []
        while month >= first and len(found) < self.MONTHS_SHOWN:
            found.append((month.strftime("%Y-%m"), month.strftime("%B %Y")))
            month = (month - timedelta(days=1)).replace(day=1)
        return found

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            start = datetime.strptime(self.value(), "%Y-%m").date()
        except ValueError:
            raise IncorrectLookupParameters(f"{self.value()!r} is not a month (YYYY-MM)") from None
        end = (start + timedelta(days=32)).replace(day=1)
        zone = timezone.get_current_timezone()
        return queryset.filter(
            created_at__gte=datetime.combine(start, datetime.min.time(), tzinfo=zone),
            created_at__lt=datetime.combine(end, datetime.min.time(), tzinfo=zone))


class CappedCountPaginator(Paginator):
    """The audit list's count without reading the table: the planner's row estimate for the
    whole log (kept by ANALYZE/autovacuum), and for a filter a count that stops at COUNT_CAP rows
    (the list then says "more than 2,000"; a narrower filter gives the exact number)."""

    COUNT_CAP = 2_000
    estimated = False   # the count is the planner's estimate of the whole log
    capped = False      # the count stopped at COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                               [queryset.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > self.COUNT_CAP:
                self.estimated = True
                return int(row[0])
        found = queryset.order_by()[:self.COUNT_CAP + 1].count()
        self.capped = found > self.COUNT_CAP
        return self.COUNT_CAP if self.capped else found


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
    show_full_result_count = False  # the count of the whole log is an estimate (paginator)
    paginator = CappedCountPaginator
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

