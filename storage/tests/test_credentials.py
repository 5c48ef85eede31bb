"""Which key pair each role signs with (storage/credentials.py), and the settings that name them."""

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from storage import credentials, s3

KEYS = {"web": ("web-key", "web-secret"), "records": ("records-key", "records-secret")}


@override_settings(MINIO_ACCESS_KEY="main-key", MINIO_SECRET_KEY="main-secret",
                   MINIO_ROLE_KEYS=KEYS, WES_STORAGE_ROLE="web")
def test_it_uses_the_role_key_and_falls_back_to_the_main_key():
    assert credentials.key_pair() == ("web-key", "web-secret")          # the process's role
    assert credentials.key_pair("worker") == ("main-key", "main-secret")  # no key of its own
    with credentials.acting_as("records"):
        assert credentials.current_role() == "records"
        assert credentials.key_pair() == ("records-key", "records-secret")
        assert s3.client().meta.region_name                   # a client of its own
        assert s3.client()._request_signer._credentials.access_key == "records-key"
    assert credentials.current_role() == "web"
    assert s3.public_client()._request_signer._credentials.access_key == "web-key"
    assert s3.client("worker")._request_signer._credentials.access_key == "main-key"


@override_settings(MINIO_ROLE_KEYS={}, WES_STORAGE_ROLE="worker")
def test_acting_as_decorates_a_function_and_refuses_an_unknown_role():
    @credentials.acting_as("admin")
    def provisioning_step():
        return credentials.current_role()

    assert provisioning_step() == "admin" and credentials.current_role() == "worker"
    with pytest.raises(credentials.UnknownRole, match="'root' is not a storage role"):
        with credentials.acting_as("root"):
            pass


def _settings_error(env: dict) -> str:
    code = "import django; django.setup()"
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings",
                                 "DJANGO_DEBUG": "true", **env})
    return answer.stderr


def test_settings_refuse_a_bad_role_and_half_a_key_pair():
    assert "WES_STORAGE_ROLE='root': use one of web, worker, records, admin" in \
        _settings_error({"WES_STORAGE_ROLE": "root"})
    assert "set both MINIO_WORKER_ACCESS_KEY and MINIO_WORKER_SECRET_KEY, or neither" in \
        _settings_error({"MINIO_WORKER_ACCESS_KEY": "k"})
    assert _settings_error({"WES_STORAGE_ROLE": "records", "MINIO_RECORDS_ACCESS_KEY": "k",
                            "MINIO_RECORDS_SECRET_KEY": "s"}) == ""
    from django.conf import settings

    assert "MINIO_WEB_SECRET_KEY is the development default" in _settings_error({
        "DJANGO_DEBUG": "false", "MINIO_WEB_ACCESS_KEY": "k",
        "MINIO_WEB_SECRET_KEY": settings.DEV_STORAGE_SECRET_KEY})
