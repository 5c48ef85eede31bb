"""A SeaweedFS started with the identities storage/policies.py generates, one key per storage role,
its buckets provisioned with the admin key: the `role_server` fixture (module scope) for tests
that hold code to a role's rights. Import the fixtures into a test module to use them."""

from __future__ import annotations

import json
import secrets
import shutil

import pytest
from django.test import override_settings

ROLE_NAMES = ("web", "worker", "records", "admin")


@pytest.fixture(scope="module")
def role_keys():
    return {role: (f"wes{role}{secrets.token_hex(4)}", secrets.token_urlsafe(24))
            for role in ROLE_NAMES}


@pytest.fixture(scope="module")
def role_server(tmp_path_factory, role_keys):
    """Settings point at the server (bucket names of its own, MINIO_ROLE_KEYS = role_keys) while
    the module's tests run; the process's role is `admin` unless a test says otherwise (`as_process`
    also renews django-storages' backends, which take the process's key when made)."""
    from storage import policies, provisioning
    from storage.credentials import acting_as
    from storage.seaweed import SeaweedServer
    from tests.helpers import storages_for, unique_buckets

    buckets = unique_buckets()
    data_dir = tmp_path_factory.mktemp("seaweedfs-roles")
    with override_settings(**buckets):
        config = data_dir / "s3.json"
        config.write_text(json.dumps(policies.seaweedfs_config(role_keys)))
    # The launcher's own key is one more admin, which nothing here uses.
    server = SeaweedServer(data_dir / "data", f"boot{secrets.token_hex(4)}",
                           secrets.token_urlsafe(24), s3_config=config)
    server.start()
    try:
        with override_settings(MINIO_ENDPOINT=server.endpoint,
                               MINIO_PUBLIC_ENDPOINT=server.endpoint, MINIO_SECURE=False,
                               MINIO_ROLE_KEYS=role_keys, WES_STORAGE_ROLE="admin",
                               STORAGES=storages_for(server.endpoint, buckets), **buckets):
            with acting_as("admin"):
                provisioning.apply()
            yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def as_process(role: str):
    """Settings of a process started with WES_STORAGE_ROLE=role (fresh django-storages backends)."""
    from django.conf import settings

    return override_settings(WES_STORAGE_ROLE=role, STORAGES={**settings.STORAGES})
