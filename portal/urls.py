from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from portal import views

# Staff sign in through allauth too, so the admin shares its rate limits and audit events.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "WES Portal administration"
admin.site.site_title = "WES Portal admin"
admin.site.enable_nav_sidebar = False  # the audit list needs the width

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("tenants.urls")),
    path("", include("jobs.urls")),
]
