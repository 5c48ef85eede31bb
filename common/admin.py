"""Shared admin pieces. Staff run the platform through the admin, but records that the portal's
services own (audit events, samples, jobs, ledger rows) are never edited there."""


class ReadOnlyAdminMixin:
    """No add, change or delete, for superusers too; the change page still shows the row."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
