"""Shared admin pieces. Staff run the platform through the admin, but records that the portal's
services own (audit events, samples, jobs, ledger rows) are never edited there."""

from django.contrib.admin.views.main import ChangeList

from common.paging import per_page_of


class ReadOnlyAdminMixin:
    """No add, change or delete, for superusers too; the change page still shows the row."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PageSizeChangeList(ChangeList):
    """An admin list whose page size is in the URL (`?per_page=100`, one of
    common.paging.PER_PAGE_CHOICES), like the portal's own lists."""

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


class PageSizeInUrlMixin:
    def get_changelist(self, request, **kwargs):
        return PageSizeChangeList
