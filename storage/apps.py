from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "storage"
    label = "wes_storage"  # "storage" would read as Django's own files.storage in admin and logs
    verbose_name = "Object storage"
