"""The client on its own: arguments, the config file's mode, exit codes and --json, without a
portal (or against a port where nothing listens)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from storage.seaweed import free_port
from wes_cli import config, state
from wes_cli.errors import AUTH, NETWORK, USAGE
from wes_cli.main import build_parser
from wes_cli.tests.conftest import ROOT, run_cli, run_json

PORTAL_PACKAGES = {"django", "common", "storage", "tenants", "jobs", "portal", "tests"}


def test_it_imports_neither_django_nor_the_portal():
    code = ("import sys, wes_cli.main, wes_cli.samples, wes_cli.jobs, wes_cli.sheet, "
            "wes_cli.transfer, wes_cli.state\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(PORTAL_PACKAGES)!r})))")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                            env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_json_and_progress_go_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--json", "submit", "X"]).json is True
    assert parser.parse_args(["submit", "X", "--json"]).json is True
    assert parser.parse_args(["submit", "X"]).json is False
    assert parser.parse_args(["status", "X", "--wait", "--no-progress"]).progress is False


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["submit"], ["upload", "--parallel", "x"],
                                  ["login"], ["sheet"]])
def test_bad_usage_exits_2(cli_env, args):
    result = run_cli(cli_env, *args)
    assert result.returncode == USAGE
    assert "usage: wes" in result.stderr


def test_commands_without_a_login_exit_3_and_say_how_to_log_in(cli_env):
    result = run_cli(cli_env, "status", "123")
    assert result.returncode == AUTH
    assert result.stderr.strip() == ("wes: Not logged in: run `wes login --url "
                                     "https://portal.example`.")
    answer = run_json(cli_env, "status", "123", expect=AUTH)
    assert answer == {"ok": False, "exit_code": AUTH, "error": "Not logged in: run `wes login "
                                                                "--url https://portal.example`."}


def test_an_unreachable_portal_exits_5(cli_env, tmp_path):
    env = {**cli_env, "WES_URL": f"http://127.0.0.1:{free_port()}", "WES_TOKEN": "wes_x_y",
           "WES_LAB": "lab-a", "WES_RETRIES": "0"}   # retries ride out ~15 s by default
    answer = run_json(env, "status", "123", expect=NETWORK)
    assert answer["error"].startswith(f"The portal at {env['WES_URL']} could not be reached")
    result = run_cli({**cli_env, "WES_RETRIES": "0"}, "login", "--url", env["WES_URL"],
                     "--token", "wes_1234abcd_secret")
    assert result.returncode == NETWORK
    assert not (tmp_path / "config" / "wes" / "config.json").exists(), "nothing saved"


def test_login_refuses_what_is_not_a_token_before_asking_the_portal(cli_env):
    result = run_cli(cli_env, "login", "--url", "http://127.0.0.1:1", "--token", "hunter2")
    assert result.returncode == USAGE and "start with wes_" in result.stderr
    result = run_cli(cli_env, "login", "--url", "http://127.0.0.1:1")   # no terminal to ask on
    assert result.returncode == USAGE and "--token" in result.stderr


def test_the_config_file_is_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    old_umask = os.umask(0o000)   # even with a careless umask
    try:
        path = config.save_config("https://portal.example/", "wes_1234abcd_secret", "lab-a")
    finally:
        os.umask(old_umask)
    assert path == tmp_path / "wes" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": "https://portal.example",
                                            "token": "wes_1234abcd_secret", "lab": "lab-a"}
    path.chmod(0o644)             # an older file someone opened up: written back as 0600
    config.save_config("https://portal.example", "wes_1234abcd_other", "lab-a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("WES_TOKEN", "wes_from_env")
    assert config.load_config()["token"] == "wes_from_env"


def test_the_state_file_knows_a_file_by_path_size_and_mtime(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    r1, r2 = tmp_path / "S1_R1.fastq.gz", tmp_path / "S1_R2.fastq.gz"
    r1.write_bytes(b"a" * 10)
    r2.write_bytes(b"b" * 10)
    sample = {"id": "s-1", "name": "S1"}
    state.remember("http://p", "lab-a", sample, [({"id": "f-1", "read": 1}, r1),
                                                 ({"id": "f-2", "read": 2}, r2)])
    assert stat.S_IMODE(state.state_path().stat().st_mode) == 0o600
    assert state.remembered("http://p", "lab-a", [r1, r2]) == {
        "sample_id": "s-1", "sample_name": "S1", "files": {1: "f-1", 2: "f-2"}}
    assert state.remembered("http://other", "lab-a", [r1, r2]) is None
    assert set(state.by_sample("http://p", "lab-a", "s-1")) == {1, 2}
    os.utime(r2, ns=(0, 10**9))   # touched: a different file now
    assert state.remembered("http://p", "lab-a", [r1, r2]) is None
    state.forget("http://p", "lab-a", "s-1")
    assert state.by_sample("http://p", "lab-a", "s-1") == {}


def test_a_missing_file_or_consent_is_a_usage_error(cli_env, tmp_path):
    env = {**cli_env, "WES_URL": f"http://127.0.0.1:{free_port()}", "WES_TOKEN": "wes_x_y",
           "WES_LAB": "lab-a"}
    result = run_cli(env, "upload", "S1", str(tmp_path / "nope_R1.fastq.gz"), "x")
    assert result.returncode == USAGE and "no such file" in result.stderr
    r1, r2 = tmp_path / "S1_R1.fastq.gz", tmp_path / "S1_R2.fastq.gz"
    r1.write_bytes(b"1")
    r2.write_bytes(b"2")
    result = run_cli(env, "upload", "S1", str(r1), str(r2))
    assert result.returncode == USAGE and "--consent" in result.stderr
    result = run_cli(env, "upload", "--resume", "no-such-sample")
    assert result.returncode == 1 and "give the files" in result.stderr
