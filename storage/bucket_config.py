"""A bucket's own configuration on the S3 server: versioning, Object Lock, default encryption,
lifecycle and CORS rules, read and written for provisioning (storage/provisioning.py) and its
drift check. Calls go through the client and error translation of storage/s3.py."""

from __future__ import annotations

from storage.s3 import answer_unless, client, is_not_configured, translated_errors


def get_versioning(name: str) -> bool:
    with translated_errors(f"read versioning of {name}"):
        return client().get_bucket_versioning(Bucket=name).get("Status") == "Enabled"


def set_versioning(name: str, enabled: bool) -> None:
    status = "Enabled" if enabled else "Suspended"
    with translated_errors(f"set versioning of {name}"):
        client().put_bucket_versioning(Bucket=name,
                                       VersioningConfiguration={"Status": status})


def get_object_lock_enabled(name: str) -> bool:
    config = read_setting(
        f"read the object lock setting of {name}",
        lambda: client().get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"],
        when_unset={})
    return config.get("ObjectLockEnabled") == "Enabled"


def enable_object_lock(name: str) -> None:
    """Allow legal holds on the bucket's objects; no default retention, so nothing else changes.
    The bucket must be versioned; some servers accept this only when the bucket is created."""
    with translated_errors(f"enable object lock on {name}"):
        client().put_object_lock_configuration(
            Bucket=name, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})


def read_setting(action: str, read, *, when_unset):
    """Read one bucket setting; a setting the bucket does not have is `when_unset`, not an error."""
    return answer_unless(action, read, absent=is_not_configured, default=when_unset)


def get_default_encryption(name: str) -> str | None:
    """The default SSE algorithm of a bucket ("AES256", "aws:kms"), or None."""
    config = read_setting(
        f"read encryption of {name}",
        lambda: client().get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"],
        when_unset={})
    for rule in config.get("Rules", []):
        algorithm = rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
        if algorithm:
            return algorithm
    return None


def set_default_encryption(name: str) -> None:
    config = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    with translated_errors(f"set default encryption of {name}"):
        client().put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=config)


def remove_default_encryption(name: str) -> None:
    with translated_errors(f"remove default encryption of {name}"):
        client().delete_bucket_encryption(Bucket=name)


def get_lifecycle_rules(name: str) -> list[dict]:
    return read_setting(
        f"read lifecycle rules of {name}",
        lambda: client().get_bucket_lifecycle_configuration(Bucket=name).get("Rules", []),
        when_unset=[])


def set_lifecycle_rules(name: str, rules: list[dict]) -> None:
    with translated_errors(f"set lifecycle rules of {name}"):
        if rules:
            client().put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": rules})
        else:
            client().delete_bucket_lifecycle(Bucket=name)


def get_cors_rules(name: str) -> list[dict]:
    return read_setting(
        f"read CORS rules of {name}",
        lambda: client().get_bucket_cors(Bucket=name).get("CORSRules", []), when_unset=[])


def set_cors_rules(name: str, rules: list[dict]) -> None:
    with translated_errors(f"set CORS rules of {name}"):
        if rules:
            client().put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        else:
            client().delete_bucket_cors(Bucket=name)
