"""The portal's admin site: Django's, signed into through allauth (its rate limits and audit
events), and answering a staff member without a model's permissions the same for a row that
exists and one that does not."""

from functools import wraps

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied


class PortalAdminSite(admin.AdminSite):
    site_header = "WES Portal administration"
    site_title = "WES Portal admin"
    enable_nav_sidebar = False  # the audit list needs the width

    def login(self, request, extra_context=None):
        # Imported here: this module is loaded while the apps are (INSTALLED_APPS names it).
        from allauth.account.decorators import secure_admin_login

        return secure_admin_login(super().login)(request, extra_context)

    def admin_view(self, view, cacheable=False):
        """A row's pages (change, history, delete, and the portal's own such as a legal hold)
        refuse a staff member who may not see the model before the row is looked up. Django
        looks it up first, and answers a missing row with a redirect but a row it may not show
        with 403: an id's existence (a sample's, an audit event's) could be probed."""
        inner = super().admin_view(view, cacheable)
        model_admin = getattr(view, "__self__", None)
        if not isinstance(model_admin, admin.ModelAdmin):
            return inner

        @wraps(inner)
        def row_view(request, *args, **kwargs):
            if ("object_id" in kwargs and self.has_permission(request)
                    and not model_admin.has_view_or_change_permission(request)):
                raise PermissionDenied
            return inner(request, *args, **kwargs)
        return row_view


class PortalAdminConfig(AdminConfig):
    """django.contrib.admin with the site above (INSTALLED_APPS names this in its place)."""

    default_site = "portal.admin_site.PortalAdminSite"
