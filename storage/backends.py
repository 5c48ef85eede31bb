"""django-storages backends for the portal's buckets (used by the plain, no-JavaScript upload)."""

from storages.backends.s3 import S3Storage

from storage import credentials, s3


class BucketStorage(S3Storage):
    """S3Storage with bounded memory: a seekable upload is read into at most four parts at a time
    (boto3's default is ten), so a 10 GB form upload does not balloon the web process. It signs
    with the key pair of the process's storage role (the web key in the web process), not with
    whatever STORAGES names."""

    def __init__(self, **settings):
        settings.setdefault("transfer_config", s3.bounded_transfer_config())
        settings["access_key"], settings["secret_key"] = credentials.key_pair(
            credentials.process_role())
        super().__init__(**settings)
