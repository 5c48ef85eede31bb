"""The audit list's filters (tenants/admin.py AuditEventAdmin): each one served by
an index of the audit table (tenants/models.py), none drawing its choices from the table."""

from datetime import date, datetime, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Max, Min
from django.utils import timezone

from common.admin import SelectListFilter, TextListFilter, params_kept
from tenants import audit_actions

ACTORS_NOT_USERS = ("system", "anonymous")


class ActorFilter(TextListFilter):
    """By who acted: an email (as the event recorded it, any case), `user:<pk>`, `system` (tasks
    and commands) or `anonymous` (failed sign-ins). A text field, not a link per user: a portal's
    users have no end."""

    title = "user"
    parameter_name = "actor"
    placeholder = "email, system or anonymous"

    def queryset(self, request, queryset):
        actor = self.value()
        if not actor:
            return queryset
        if "@" in actor:
            return queryset.filter(actor_email__iexact=actor)
        if actor in ACTORS_NOT_USERS or (actor.startswith("user:") and actor[5:].isdigit()):
            return queryset.filter(actor_id=actor)
        self.errors.append(f"{actor!r} is not an email, user:<id>, system or anonymous; the "
                           "user filter is not applied")
        return queryset


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
        yield {"hidden": params_kept(changelist, self.parameter_names), "errors": self.errors,
               "active": bool(self.used_parameters),
               "created_from": self.used_parameters.get("created_from", ""),
               "created_to": self.used_parameters.get("created_to", ""),
               "clear_query_string": changelist.get_query_string(
                   remove=list(self.parameter_names))}


class ActionFilter(SelectListFilter):
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
