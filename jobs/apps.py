from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Samples and pipeline jobs"

    def ready(self):
        from jobs.reports.selectors import lab_home_lists
        from tenants.home import register_home_section

        register_home_section(lab_home_lists)
