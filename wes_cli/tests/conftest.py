"""The CLI under test runs as users run it: `python -m wes_cli` in a subprocess, with its own
config and state directories, against the real portal (live_server, /api/v1) and the real S3
server (SeaweedFS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(tmp_path) -> dict:
    """An environment of its own: config and state in tmp_path, no WES_* from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WES_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"),
               HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "wes_cli", *args]


def run_cli(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def run_json(env: dict, *args: str, expect: int = 0, timeout: float = 600) -> dict:
    result = run_cli(env, "--json", *args, timeout=timeout)
    assert result.returncode == expect, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def api_token(membership, scope: str = "upload", name: str = "cli tests") -> str:
    from tenants.api_tokens import token_create

    return token_create(membership=membership, name=name, days=7, scope=scope)[1]


@pytest.fixture
def portal(live_server, provisioned_s3):
    """The live portal's URL, its uploads going to the real S3 server."""
    from django.test import override_settings

    with override_settings(STORAGE_UPLOAD_ORIGINS=[live_server.url]):
        yield live_server.url


@pytest.fixture
def logged_in(portal, clinician, cli_env) -> dict:
    """cli_env after `wes login` with an upload-scope token of lab A's clinician."""
    result = run_cli(cli_env, "login", "--url", portal, "--token", api_token(clinician))
    assert result.returncode == 0, result.stderr
    return cli_env
