from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Samples and pipeline jobs"

    def ready(self):
        from jobs.records.stored_digests import recorded_digests
        from jobs.reports.selectors import lab_home_lists
        from storage.digests import register_digest_source
        from tenants.home import register_home_section

        register_home_section(lab_home_lists)
        register_digest_source(recorded_digests)
