"""The lab's deployment files start the same parts the same way as the stack script
(portal/stack_parts.py), and each is valid for its tool: the compose file parses and names the same
commands (no Docker Compose here to run it), the systemd units pass `systemd-analyze verify`, the
nginx site passes `nginx -t`, and the example settings name only documented settings. Like the
stack script, each process gets only its own storage role's key pair, and the records tasks run
on a cluster of their own."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from portal import stack_parts as parts
from portal.stack import Stack
from portal.stack import main as stack_main

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def without_options(args: list[str], *names: str) -> list[str]:
    """`args` minus each named option and its value (where a process listens differs by place)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        else:
            kept.append(arg)
    return kept


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]


def test_compose_runs_the_stack_scripts_parts(compose):
    assert set(compose) == {"db", "redis", "s3", "migrate", "web", "worker", "records", "nginx"}
    web = compose["web"]["command"]
    assert web[0] == "gunicorn"
    assert without_options(web[1:], "--bind", "--forwarded-allow-ips") == without_options(
        parts.GUNICORN_ARGS, "--forwarded-allow-ips")
    assert compose["worker"]["command"] == ["python", *parts.QCLUSTER_ARGS]
    assert compose["worker"]["deploy"]["replicas"] >= 2
    assert compose["records"]["command"] == ["python", *parts.QCLUSTER_ARGS]
    assert compose["records"]["environment"]["Q_CLUSTER_NAME"] == parts.RECORDS_CLUSTER
    for name in ("web", "worker", "records", "migrate"):
        assert compose[name]["image"] == "wes-portal:latest"
        assert compose[name]["environment"]["AWS_CA_BUNDLE"]

    redis = compose["redis"]["command"]
    script_redis = parts.redis_command(Path("/data"), 6379, "${REDIS_PASSWORD:?set REDIS_PASSWORD}")
    assert without_options(redis, "--bind") == without_options(
        ["redis-server", *script_redis[1:]], "--bind")

    s3 = compose["s3"]["command"]
    server = parts.TlsSeaweedServer(Path("/var/lib/wes-s3"), "key", "secret",
                                    s3_config=Path("/etc/wes-s3/s3.json"))
    server.certificates = parts.Certificates(Path("/run/wes-tls"))
    script_flags = {arg.split("=")[0] for arg in server.command()[2:]}
    compose_flags = {arg.split("=")[0] for arg in s3[2:]}
    ports = {flag for flag in script_flags
             if re.search(r"\.port(\.grpc)?$", flag) and flag != "-s3.port"}
    # The stack script gives every internal port a free number; compose keeps the defaults.
    assert compose_flags == script_flags - ports
    assert "-s3.cert.file=/run/wes-tls/server.pem" in s3
    assert "-s3.config=/etc/wes-s3/s3.json" in s3
    assert "environment" not in compose["s3"]       # its keys are the identities file, no others

    assert compose["nginx"]["environment"]["WES_NGINX_UPSTREAM"] == "web:8000"
    template_names = set(re.findall(r"\$\{(WES_NGINX_\w+)\}",
                                    parts.NGINX_SITE_TEMPLATE.read_text()))
    assert template_names == set(compose["nginx"]["environment"])


def unit(path: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_systemd_units_run_the_stack_scripts_commands():
    web = unit(DEPLOY / "systemd/wes-portal-web.service")["ExecStart"][0].split()
    assert web[0].endswith("/gunicorn")
    assert without_options(web[1:], "--bind") == parts.GUNICORN_ARGS
    worker = unit(DEPLOY / "systemd/wes-portal-worker@.service")["ExecStart"][0].split()
    assert worker[0].endswith("/python") and worker[1:] == parts.QCLUSTER_ARGS
    migrate = unit(DEPLOY / "systemd/wes-portal-migrate.service")["ExecStart"]
    assert [line.split()[2] for line in migrate] == ["migrate", "collectstatic", "setup_storage"]
    records = unit(DEPLOY / "systemd/wes-portal-records-worker.service")
    assert records["ExecStart"][0].split()[1:] == parts.QCLUSTER_ARGS
    assert records["Environment"] == [f"Q_CLUSTER_NAME={parts.RECORDS_CLUSTER}"]
    s3 = unit(DEPLOY / "systemd/wes-portal-s3.service")
    assert "-s3.cert.file=" in s3["ExecStart"][0] and "-s3.key.file=" in s3["ExecStart"][0]
    assert "-s3.config=/etc/wes-portal/s3.json" in s3["ExecStart"][0]
    assert "EnvironmentFile" not in s3


# Which storage role's key file each process reads, here as in portal/stack.py.
PROCESS_ROLES = {"web": "web", "worker": "worker", "records": "records", "migrate": "admin"}
UNITS = {"web": "wes-portal-web.service", "worker": "wes-portal-worker@.service",
         "records": "wes-portal-records-worker.service", "migrate": "wes-portal-migrate.service"}


def test_each_process_reads_only_its_own_storage_key_file(compose):
    for process, role in PROCESS_ROLES.items():
        assert compose[process]["env_file"] == ["wes-portal.env", f"storage-{role}.env"]
        files = unit(DEPLOY / "systemd" / UNITS[process])["EnvironmentFile"]
        assert files == ["/etc/wes-portal/env", f"/etc/wes-portal/storage-{role}.env"]


def test_the_example_gives_each_role_its_own_key_pair_twice():
    """Each storage-ROLE.env block in the example sets the role, its MINIO_<ROLE>_* pair and the
    same pair as MINIO_ACCESS_KEY (no fallback to a broader key); the shared file holds no key."""
    example = (DEPLOY / "wes-portal.env.example").read_text()
    shared = {line.split("=")[0] for line in example.splitlines() if re.match(r"[A-Z]", line)}
    assert not {name for name in shared if name.startswith("MINIO_") and "KEY" in name}
    assert f"WES_RECORDS_CLUSTER={parts.RECORDS_CLUSTER}" in example.splitlines()
    blocks = re.findall(r"^# /etc/wes-portal/storage-(\w+)\.env: .*\n((?:#   \w+=.*\n)+)", example,
                        re.M)
    assert [role for role, _ in blocks] == list(parts.STORAGE_ROLES)
    for role, block in blocks:
        values = dict(line[4:].split("=", 1) for line in block.splitlines())
        access, secret = parts.storage_key_names(role)
        assert values["WES_STORAGE_ROLE"] == role
        assert set(values) == {"WES_STORAGE_ROLE", access, secret, "MINIO_ACCESS_KEY",
                               "MINIO_SECRET_KEY"}
        assert values["MINIO_ACCESS_KEY"] == values[access]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_units_pass_systemd_analyze(tmp_path):
    # With this checkout's paths, so that every ExecStart names a program that exists here.
    for source in (DEPLOY / "systemd").glob("*.service"):
        text = source.read_text().replace("/srv/wes-portal/.venv/bin/", f"{ROOT}/.venv/bin/")
        (tmp_path / source.name.replace("@.", "@1.")).write_text(
            text.replace("/srv/wes-portal", str(ROOT)))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no",
                             *map(str, sorted(tmp_path.glob("*.service")))],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_the_nginx_site_passes_nginx_t(tmp_path, capsys):
    if missing := [m for m in parts.missing_binaries() if "nginx" in m or "openssl" in m]:
        pytest.skip("; ".join(missing))
    certificates = parts.Certificates(tmp_path / "tls").create()
    assert stack_main(["nginx-conf", "--server-name", "wes.lab.example", "--cert",
                       str(certificates.cert), "--key", str(certificates.key), "--https-port",
                       "8443", "--http-port", "8080", "--metrics-allow", "10.0.0.5,10.1.0.0/16"
                       ]) == 0
    site = capsys.readouterr().out
    assert not re.search(r"\$\{WES_NGINX_[A-Z]", site)
    metrics = site[site.index("location = /metrics"):]
    assert metrics.index("allow 10.0.0.5; allow 10.1.0.0/16;") < metrics.index("deny all;")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "site.conf").write_text(site)
    (prefix / "nginx.conf").write_text(parts.nginx_main_config(prefix, prefix / "site.conf"))
    result = subprocess.run([parts.binary("nginx"), "-t", "-p", str(prefix), "-c",
                             str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_example_settings_are_documented():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs/configuration.md").read_text()))
    example = (DEPLOY / "wes-portal.env.example").read_text()
    names = {line.split("=")[0] for line in example.splitlines() if re.match(r"[A-Z]", line)}
    # The metrics settings are documented with /metrics (docs/configuration.md, its own rows).
    assert names - documented - {"WES_METRICS_TOKEN", "WES_METRICS_ALLOWED_IPS"} == set()


def test_the_stack_gives_each_process_only_its_own_key_pair(tmp_path):
    """What the stack script starts each process with (the HTTPS test checks the running ones); a
    folder from before the per-role keys keeps its one key, as the admin's."""
    (tmp_path / "secrets.env").write_text("DJANGO_SECRET_KEY=s\nDB_PASSWORD=d\nREDIS_PASSWORD=r\n"
                                          "MINIO_ACCESS_KEY=old-key\nMINIO_SECRET_KEY=old-secret\n"
                                          "WES_AUDIT_KEYS=k1:a\nWES_HEALTH_TOKEN=h\n"
                                          "WES_METRICS_TOKEN=m\n")
    stack = Stack(tmp_path)
    assert stack.secrets["MINIO_ADMIN_ACCESS_KEY"] == "old-key"
    assert Stack(tmp_path).secrets == stack.secrets          # generated once
    pairs = {role: tuple(stack.secrets[name] for name in parts.storage_key_names(role))
             for role in parts.STORAGE_ROLES}
    assert len(set(pairs.values())) == 4
    for role in parts.STORAGE_ROLES:
        env = stack.environment(role)
        assert env["WES_STORAGE_ROLE"] == role
        assert (env["MINIO_ACCESS_KEY"], env["MINIO_SECRET_KEY"]) == pairs[role]
        held = {other for other, (access, _) in pairs.items() if access in env.values()}
        assert held == {role}
    assert all(name in stack.environment("admin", every_role=True)
               for role in parts.STORAGE_ROLES for name in parts.storage_key_names(role))
