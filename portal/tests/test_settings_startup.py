"""The settings module, loaded fresh in a child process as a server would load it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
CONFIG_NAMES = ["DJANGO_DEBUG", "DJANGO_SECRET_KEY", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY",
                "DATABASE_URL", "REDIS_URL"]


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in CONFIG_NAMES and not k.endswith("_FILE")}
    clean.update(DJANGO_SETTINGS_MODULE="portal.settings", WES_VAR_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


def test_it_refuses_to_start_in_production_on_development_secrets(tmp_path):
    result = start(tmp_path)
    assert result.returncode != 0
    assert "Refusing to start with DJANGO_DEBUG off" in result.stderr
    assert "DJANGO_SECRET_KEY is the development default" in result.stderr
    assert "MINIO_ACCESS_KEY / MINIO_SECRET_KEY are the development defaults" in result.stderr


def test_it_refuses_development_storage_credentials_even_with_a_real_secret_key(tmp_path):
    result = start(tmp_path, DJANGO_SECRET_KEY="a-real-secret")
    assert result.returncode != 0
    assert "MINIO_ACCESS_KEY / MINIO_SECRET_KEY are the development defaults" in result.stderr
    assert "DJANGO_SECRET_KEY is the development default" not in result.stderr


def test_it_starts_in_production_with_real_secrets_from_files(tmp_path):
    (tmp_path / "key").write_text("a-real-secret\n")
    (tmp_path / "s3").write_text("a-real-storage-secret\n")
    result = start(tmp_path, DJANGO_SECRET_KEY_FILE=str(tmp_path / "key"),
                   MINIO_ACCESS_KEY="portal", MINIO_SECRET_KEY_FILE=str(tmp_path / "s3"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_it_starts_in_development_on_defaults(tmp_path):
    result = start(tmp_path, DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_it_names_a_malformed_boolean(tmp_path):
    result = start(tmp_path, DJANGO_DEBUG="ture")
    assert result.returncode != 0
    assert "DJANGO_DEBUG='ture' is not a boolean" in result.stderr


@pytest.mark.parametrize("redis_url,broker", [("", "orm"), ("redis://127.0.0.1:6379/3", "redis")])
def test_it_picks_the_queue_broker_from_redis_url(tmp_path, redis_url, broker):
    probe = ("import django; django.setup(); from django.conf import settings; "
             "print('redis' if 'redis' in settings.Q_CLUSTER else 'orm', "
             "settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1])")
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES}
    clean.update(DJANGO_SETTINGS_MODULE="portal.settings", WES_VAR_DIR=str(tmp_path),
                 DJANGO_DEBUG="true", REDIS_URL=redis_url)
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=clean,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [broker, "RedisCacheWithFallback" if redis_url else "DatabaseCache"]


def test_it_uses_postgresql_from_database_url(tmp_path):
    probe = ("import django; django.setup(); from django.conf import settings; "
             "d = settings.DATABASES['default']; print(d['ENGINE'], d['HOST'], d['NAME'])")
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES}
    clean.update(DJANGO_SETTINGS_MODULE="portal.settings", WES_VAR_DIR=str(tmp_path),
                 DJANGO_DEBUG="true", DATABASE_URL="postgres://wes@db.internal:5432/wes")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=clean,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["django.db.backends.postgresql", "db.internal", "wes"]
