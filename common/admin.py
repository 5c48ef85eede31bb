"""Shared admin pieces. Staff run the platform through the admin, but records that the portal's
services own (audit events, samples, jobs, ledger rows) are never edited there."""

import html
from functools import cached_property

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags.admin_list import _boolean_icon, result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, lookup_field, quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.db import connection, models
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeData, SafeString, mark_safe

from common.paging import per_page_of

PK_PLACEHOLDER = "__pk__"


class ReadOnlyAdminMixin:
    """No add, change or delete, for superusers too; the change page still shows the row."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LargeTableChangeList(ChangeList):
    """An admin list of a table that grows without end (audit events, jobs, samples): its page
    size is in the URL (`?per_page=100`, one of common.paging.PER_PAGE_CHOICES), like the portal's
    own lists, and its rows are drawn here, a row at a time. Django's own row renderer
    (admin_list.items_for_result) looks every cell's field up again, reverses the change URL and
    encodes the preserved filters once per row, and resolves the static URL of a yes/no icon once
    per cell: about half of the page's time at 50 rows. The cells read the same and carry the
    same classes (`field-<name>`, `nowrap`, `action-checkbox`). Each row reaches the template as
    one string (admin/large_table_results.html), and the filters' links are drawn by
    portal/templatetags/admin_lists.py (admin/large_table_filter.html): a template loop over
    five hundred cells and a few hundred filter links cost more than drawing them."""

    PLAIN_FILTER_TEMPLATE = "admin/filter.html"

    def __init__(self, request, model, list_display, list_display_links, list_filter,
                 date_hierarchy, search_fields, list_select_related, list_per_page, *args,
                 **kwargs):
        super().__init__(request, model, list_display, list_display_links, list_filter,
                         date_hierarchy, search_fields, list_select_related,
                         per_page_of(request.GET, list_per_page), *args, **kwargs)

    def get_filters_params(self, params=None):
        params = super().get_filters_params(params)
        params.pop("per_page", None)   # a page size, not a filter
        return params

    def get_queryset(self, request, exclude_parameters=None):
        """The rows without the admin's `list_defer` columns (JSON and text no cell shows)."""
        queryset = super().get_queryset(request, exclude_parameters)
        deferred = getattr(self.model_admin, "list_defer", ())
        return queryset.defer(*deferred) if deferred else queryset

    def get_filters(self, request):
        specs, *rest = super().get_filters(request)
        for spec in specs:
            if spec.template == self.PLAIN_FILTER_TEMPLATE:
                spec.template = "admin/large_table_filter.html"
        return (specs, *rest)

    @cached_property
    def headers(self) -> list[dict]:
        return list(result_headers(self))

    @property
    def num_sorted_fields(self) -> int:
        return sum(1 for h in self.headers if h["sortable"] and h["sorted"])

    @property
    def rows(self) -> list[SafeString]:
        """Each result as the cells of its table row, one string of safe HTML."""
        admin_ = self.model_admin
        empty = admin_.get_empty_value_display()
        icons = {value: _boolean_icon(value) for value in (True, False, None)}
        link_template = add_preserved_filters(
            {"preserved_filters": self.preserved_filters, "opts": self.opts},
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=[PK_PLACEHOLDER], current_app=admin_.admin_site.name))
        linked = set(self.list_display_links or ())
        if hasattr(admin_, "prepare_rows"):   # what the cells need, read for the whole page
            admin_.prepare_rows(self.result_list)
        readers: dict = {}
        rows = []
        for obj in self.result_list:
            cells, header_cell = [], "th"
            for index, name in enumerate(self.list_display):
                if name == "action_checkbox":
                    cells.append(format_html(
                        '<td class="action-checkbox"><input type="checkbox" name="{}" value="{}" '
                        'class="action-select" aria-label="Select this object for an action - '
                        '{}"></td>', ACTION_CHECKBOX_NAME, obj.pk, obj))
                    continue
                shown, classes = self._cell(obj, name, empty, icons, readers)
                shown = shown if isinstance(shown, SafeData) else html.escape(str(shown))
                css = f"field-{name if isinstance(name, str) else index}{classes}"
                if name in linked:
                    url = html.escape(link_template.replace(PK_PLACEHOLDER, quote(str(obj.pk)), 1))
                    cells.append(f'<{header_cell} class="{css}"><a href="{url}">{shown}</a>'
                                 f'</{header_cell}>')
                    header_cell = "td"   # only the first link is the row's header
                else:
                    cells.append(f'<td class="{css}">{shown}</td>')
            rows.append(mark_safe("".join(cells)))   # every value above escaped or safe
        return rows

    def _cell(self, obj, name, empty, icons, readers) -> tuple[str, str]:
        """What one cell shows and its extra classes, as Django's renderer would. How a column
        is read (a field, or a method of the admin) is learnt from the first row and kept in
        `readers`: Django's lookup_field finds it again, through an exception, in every cell."""
        try:
            if name in readers:
                field, attr, value = readers[name](obj)
            else:
                field, attr, value = lookup_field(name, obj, self.model_admin)
                readers[name] = self._reader(name, field, attr)
        except ObjectDoesNotExist:
            return empty, ""
        if isinstance(value, str) and not value.strip():
            value = ""
        if field is None or field.auto_created:
            if getattr(attr, "boolean", False):
                return icons.get(value, icons[None]), ""
            shown = display_for_value(value, getattr(attr, "empty_value_display", empty))
            return shown, " nowrap" if hasattr(value, "isoformat") else ""
        if isinstance(field.remote_field, models.ManyToOneRel):
            related = getattr(obj, field.name)
            return (empty if related is None else related), " nowrap"
        shown = display_for_field(value, field, empty)
        nowrap = isinstance(field, models.DateField | models.TimeField)
        return shown, " nowrap" if nowrap else ""

    def _reader(self, name, field, attr):
        """obj -> (field, attr, value) as lookup_field gives it, for one column."""
        if field is not None:
            return lambda obj: (field, None, getattr(obj, name))
        if callable(name) or (attr is not None and name != "__str__"
                              and getattr(self.model_admin, name, None) == attr):
            return lambda obj: (None, attr, attr(obj))
        return lambda obj: lookup_field(name, obj, self.model_admin)


class CappedCountPaginator(Paginator):
    """A long list's count without reading the table: the planner's row estimate for the whole
    table (kept by ANALYZE/autovacuum), and for a filter a count that stops at COUNT_CAP rows (the
    list then says "more than 2,000"; a narrower filter gives the exact number). Counting a
    million audit events, or every lab's samples, row by row would take longer than the page."""

    COUNT_CAP = 2_000
    estimated = False   # the count is the planner's estimate of the whole table
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


class LargeTableAdminMixin:
    """For the admin lists of the tables that grow: see LargeTableChangeList. The list's template
    must extend admin/large_table_change_list.html (the default does). `list_defer` names the
    columns the list does not read (its change page still does); a `prepare_rows(objects)`
    method, if the admin has one, reads what the page's cells need in one go."""

    list_defer: tuple[str, ...] = ()
    paginator = CappedCountPaginator
    show_full_result_count = False   # the filtered count is enough; no second count

    change_list_template = "admin/large_table_change_list.html"
    # No "Show counts" link: each filter choice's count is a query over the whole table.
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return LargeTableChangeList


def params_kept(changelist, dropped) -> list[tuple[str, str]]:
    """The list's other filters, its search, order and page size, as the hidden fields of a
    filter's own form (a GET form sends only its fields)."""
    return [(name, value) for name, values in changelist.filter_params.items()
            if name not in dropped for value in values]


class SelectListFilter(admin.SimpleListFilter):
    """A filter of many fixed choices (say, every audited action) as one drop-down list with an
    Apply button, instead of a link per choice: the same parameter and the same `lookups`, a
    shorter sidebar, and one form drawn rather than a query string per choice."""

    template = "admin/select_filter.html"

    def choices(self, changelist):
        current = self.value()
        yield {"name": self.parameter_name, "active": current is not None,
               "hidden": params_kept(changelist, {self.parameter_name}),
               "options": format_html_join(
                   "", '<option value="{}"{}>{}</option>',
                   ((value, " selected" if str(value) == current else "", label)
                    for value, label in self.lookup_choices)),
               "clear_query_string": changelist.get_query_string(remove=[self.parameter_name])}


class TextListFilter(admin.ListFilter):
    """A filter whose choices have no end (say, every user): a text field with an Apply button.
    Subclasses set `title`, `parameter_name`, `placeholder` and `queryset`; a value they cannot
    read goes into `self.errors`, which the form shows."""

    template = "admin/text_filter.html"
    parameter_name = ""
    placeholder = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.errors: list[str] = []
        raw = (params.pop(self.parameter_name, None) or [""])[-1].strip()
        if raw:
            self.used_parameters[self.parameter_name] = raw

    def value(self) -> str:
        return self.used_parameters.get(self.parameter_name, "")

    def has_output(self) -> bool:
        return True

    def expected_parameters(self):
        return [self.parameter_name]

    def choices(self, changelist):
        yield {"name": self.parameter_name, "value": self.value(), "active": bool(self.value()),
               "placeholder": self.placeholder, "errors": self.errors,
               "hidden": params_kept(changelist, {self.parameter_name}),
               "clear_query_string": changelist.get_query_string(remove=[self.parameter_name])}
