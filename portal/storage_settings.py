"""Object storage settings (S3 API; MinIO in production, SeaweedFS for development and tests): the
server and its key pair, the six bucket names, timeouts, the origins that upload to the raw-data
bucket, and django-storages' STORAGES. portal/settings.py imports each name from here.

Endpoints are `host:port` with MINIO_SECURE (MinIO's convention) or full URLs; both become URLs
here, and a URL that contradicts MINIO_SECURE stops the start-up (storage/endpoint.py).
"""

from django.core.exceptions import ImproperlyConfigured

from common.env import env_bool, env_int, env_list, env_secret, env_str
from portal.dev_defaults import DEV_STORAGE_ACCESS_KEY, DEV_STORAGE_SECRET_KEY
from storage.endpoint import EndpointError, endpoint_url

_MINIO_SECURE_GIVEN = env_bool("MINIO_SECURE", None)
try:
    MINIO_ENDPOINT = endpoint_url("MINIO_ENDPOINT",
                                  env_str("MINIO_ENDPOINT", "http://127.0.0.1:8333"),
                                  secure=_MINIO_SECURE_GIVEN)
    MINIO_PUBLIC_ENDPOINT = (endpoint_url("MINIO_PUBLIC_ENDPOINT",
                                          env_str("MINIO_PUBLIC_ENDPOINT"),
                                          secure=_MINIO_SECURE_GIVEN, contradiction_ok=True)
                             or MINIO_ENDPOINT)
except EndpointError as exc:
    raise ImproperlyConfigured(str(exc)) from None
MINIO_ACCESS_KEY = env_secret("MINIO_ACCESS_KEY", DEV_STORAGE_ACCESS_KEY)
MINIO_SECRET_KEY = env_secret("MINIO_SECRET_KEY", DEV_STORAGE_SECRET_KEY)
MINIO_SECURE = (MINIO_ENDPOINT.startswith("https://") if MINIO_ENDPOINT
                else _MINIO_SECURE_GIVEN is not False)
MINIO_REGION = env_str("MINIO_REGION", "us-east-1")
MINIO_BUCKET_RAW = env_str("MINIO_BUCKET_RAW", "wes-raw-data")
MINIO_BUCKET_INTERMEDIATE = env_str("MINIO_BUCKET_INTERMEDIATE", "wes-intermediate")
MINIO_BUCKET_RESULTS = env_str("MINIO_BUCKET_RESULTS", "wes-results")
MINIO_BUCKET_ARCHIVES = env_str("MINIO_BUCKET_ARCHIVES", "wes-archives")
MINIO_BUCKET_REFERENCE = env_str("MINIO_BUCKET_REFERENCE", "wes-reference")
MINIO_BUCKET_LOGS = env_str("MINIO_BUCKET_LOGS", "wes-logs")
STORAGE_PRESIGNED_EXPIRY_SECONDS = env_int("WES_PRESIGNED_EXPIRY_SECONDS", 300, minimum=30)
STORAGE_TIMEOUT_SECONDS = env_int("WES_STORAGE_TIMEOUT_SECONDS", 10, minimum=1)
# Origins (scheme://host:port) whose pages upload straight to the raw-data bucket.
STORAGE_UPLOAD_ORIGINS = env_list("WES_UPLOAD_ORIGINS",
                                  ["http://127.0.0.1:8000", "http://localhost:8000"])


def _s3_storage(bucket: str) -> dict:
    return {
        "BACKEND": "storage.backends.BucketStorage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": MINIO_ENDPOINT,
            "access_key": MINIO_ACCESS_KEY,
            "secret_key": MINIO_SECRET_KEY,
            "region_name": MINIO_REGION,
            "use_ssl": MINIO_SECURE,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": STORAGE_PRESIGNED_EXPIRY_SECONDS,
            "custom_domain": None,
            "default_acl": None,
            "object_parameters": {"ServerSideEncryption": "AES256"},
        },
    }


STORAGES = {
    "default": _s3_storage(MINIO_BUCKET_RAW),
    "raw": _s3_storage(MINIO_BUCKET_RAW),
    "intermediate": _s3_storage(MINIO_BUCKET_INTERMEDIATE),
    "results": _s3_storage(MINIO_BUCKET_RESULTS),
    "archives": _s3_storage(MINIO_BUCKET_ARCHIVES),
    "logs": _s3_storage(MINIO_BUCKET_LOGS),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
