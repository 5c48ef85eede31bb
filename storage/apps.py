import atexit

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class StorageConfig(AppConfig):
    name = "storage"
    label = "wes_storage"  # "storage" would read as Django's own files.storage in admin and logs
    verbose_name = "Object storage"

    def ready(self):
        from django.core.signals import request_finished
        from django_q.signals import post_execute_in_worker

        from storage.metric_records import flush_pending
        from storage.scrub_schedule import scrub_schedule_sync

        # Counts kept while a request or a task ran (storage errors) are written when it ends,
        # and a command's when its process does.
        request_finished.connect(flush_pending, dispatch_uid="wes_metrics_flush_request")
        post_execute_in_worker.connect(flush_pending, dispatch_uid="wes_metrics_flush_task")
        atexit.register(flush_pending)

        post_migrate.connect(scrub_schedule_sync, sender=self,
                             dispatch_uid="wes_storage_scrub_schedule")
