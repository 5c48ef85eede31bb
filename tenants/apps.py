from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Labs and audit"

    def ready(self):
        from tenants import auth_events  # noqa: F401  (connects the login/logout receivers)
