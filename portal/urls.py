from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from jobs.records import usage_admin
from jobs.records.admin import retention_view
from portal import metrics, views
from portal.api.main import api

handler500 = "portal.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/v1/", api.urls),          # the JSON API (docs/api.md)
    # Pages without a <link rel="icon"> (the admin's) make browsers ask for /favicon.ico.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    *usage_admin.admin_urls(),           # /admin/usage/, /admin/storage-dashboard/
    path("admin/retention/", admin.site.admin_view(retention_view), name="admin_retention"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("tenants.urls")),
    path("", include("jobs.urls")),
]
