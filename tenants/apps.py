from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Labs and audit"

    def ready(self):
        from storage.backup.events import register_backup_listener
        from storage.scrub_report import register_findings_listener
        from tenants import auth_events  # noqa: F401  (connects the login/logout receivers)
        from tenants.backup_audit import audit_backup_event
        from tenants.scrub_audit import audit_scrub_findings

        register_findings_listener(audit_scrub_findings)
        register_backup_listener(audit_backup_event)
