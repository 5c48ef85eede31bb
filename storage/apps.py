from django.apps import AppConfig
from django.db.models.signals import post_migrate


class StorageConfig(AppConfig):
    name = "storage"
    label = "wes_storage"  # "storage" would read as Django's own files.storage in admin and logs
    verbose_name = "Object storage"

    def ready(self):
        from storage.scrub_schedule import scrub_schedule_sync

        post_migrate.connect(scrub_schedule_sync, sender=self,
                             dispatch_uid="wes_storage_scrub_schedule")
