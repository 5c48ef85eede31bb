"""Shared admin pieces. Staff run the platform through the admin, but records that the portal's
services own (audit events, samples, jobs, ledger rows) are never edited there."""

from functools import cached_property

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags.admin_list import _boolean_icon, result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, lookup_field, quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

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
    same classes (`field-<name>`, `nowrap`, `action-checkbox`)."""

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

    @cached_property
    def headers(self) -> list[dict]:
        return list(result_headers(self))

    @property
    def num_sorted_fields(self) -> int:
        return sum(1 for h in self.headers if h["sortable"] and h["sorted"])

    @property
    def rows(self) -> list[str]:
        """Each result as the cells of its table row (safe HTML)."""
        admin = self.model_admin
        empty = admin.get_empty_value_display()
        icons = {value: _boolean_icon(value) for value in (True, False, None)}
        link_template = add_preserved_filters(
            {"preserved_filters": self.preserved_filters, "opts": self.opts},
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=[PK_PLACEHOLDER], current_app=admin.admin_site.name))
        linked = set(self.list_display_links or ())
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
                shown, classes = self._cell(obj, name, empty, icons)
                css = f"field-{name if isinstance(name, str) else index}{classes}"
                if name in linked:
                    url = link_template.replace(PK_PLACEHOLDER, quote(str(obj.pk)), 1)
                    cells.append(format_html('<{} class="{}"><a href="{}">{}</a></{}>',
                                             header_cell, css, url, shown, header_cell))
                    header_cell = "td"   # only the first link is the row's header
                else:
                    cells.append(format_html('<td class="{}">{}</td>', css, shown))
            rows.append(cells)
        return rows

    def _cell(self, obj, name, empty, icons) -> tuple[str, str]:
        """What one cell shows and its extra classes, as Django's renderer would."""
        try:
            field, attr, value = lookup_field(name, obj, self.model_admin)
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


class LargeTableAdminMixin:
    """For the admin lists of the tables that grow: see LargeTableChangeList. The list's template
    must extend admin/large_table_change_list.html (the default does)."""

    change_list_template = "admin/large_table_change_list.html"

    def get_changelist(self, request, **kwargs):
        return LargeTableChangeList
