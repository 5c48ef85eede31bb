"""The production stack's parts, one function each: the run's certificate authority, and the
command line of PostgreSQL, Redis, SeaweedFS (S3 over TLS), gunicorn, the django-q2 cluster and
nginx. `portal/stack.py` starts them on this machine; `deploy/compose.yaml` and the systemd units in
`deploy/systemd/` start the same programs with the same arguments (a test holds them together).

Like the dev launcher, nothing here imports Django settings: the parts run before Django reads
its configuration.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from storage.seaweed import SeaweedServer

ROOT = Path(__file__).resolve().parent.parent
NGINX_SITE_TEMPLATE = ROOT / "deploy/nginx/wes-portal.conf.template"
POSTGRES_BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"),
                     Path("/usr/lib/postgresql/17/bin")]

# What the web process and the workers are, wherever they run (the stack, compose, systemd).
# deploy/gunicorn.conf.py: its child_exit hook keeps the metrics of a worker that exits right
# (multiprocess mode, PROMETHEUS_MULTIPROC_DIR; docs/operations.md, "Metrics and alerts").
GUNICORN_ARGS = ["portal.wsgi:application", "--config", "deploy/gunicorn.conf.py",
                 "--workers", "3", "--timeout", "300",
                 "--forwarded-allow-ips", "127.0.0.1", "--access-logfile", "-"]
QCLUSTER_ARGS = ["manage.py", "qcluster"]

# Each process signs its storage requests with its own role's key pair (storage/credentials.py):
# gunicorn `web`, the general task clusters `worker`, one more cluster (named RECORDS_CLUSTER)
# `records`, and the deploy steps (migrations, setup_storage, load_reference) `admin`.
STORAGE_ROLES = ("web", "worker", "records", "admin")
RECORDS_CLUSTER = "wes-records"


class MissingBinary(RuntimeError):
    pass


def binary(name: str) -> str:
    """A program from PATH or Debian's PostgreSQL folder; MissingBinary names what to install."""
    found = shutil.which(name)
    if not found:
        for folder in POSTGRES_BIN_DIRS:
            if (folder / name).exists():
                return str(folder / name)
        package = {"postgres": "postgresql", "initdb": "postgresql", "pg_isready": "postgresql",
                   "redis-server": "redis-server", "nginx": "nginx", "openssl": "openssl"}.get(name, name)
        raise MissingBinary(f"`{name}` is not installed (Debian package {package})")
    return found


def missing_binaries() -> list[str]:
    missing = []
    for name in ("postgres", "initdb", "redis-server", "nginx", "openssl"):
        try:
            binary(name)
        except MissingBinary as exc:
            missing.append(str(exc))
    return missing


# --- the run's certificate authority ----------------------------------------------------------

@dataclass
class Certificates:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def key(self) -> Path:
        return self.folder / "server.key"

    def create(self, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> "Certificates":
        """A CA for this run and one server certificate (nginx and S3) signed by it; kept when
        they exist already, so a browser that trusts the CA keeps trusting it."""
        if self.ca.exists() and self.cert.exists() and self.key.exists():
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        ca_key = self.folder / "ca.key"
        _openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca, "-days", "825",
                 "-subj", "/CN=WES Portal stack CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        csr = self.folder / "server.csr"
        _openssl("req", *ec, "-keyout", self.key, "-out", csr, "-subj", f"/CN={names[0]}")
        sans = ",".join(("IP:" if name[0].isdigit() or ":" in name else "DNS:") + name
                        for name in names)
        extensions = self.folder / "server.ext"
        extensions.write_text(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                              "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", self.cert, "-days", "397", "-extfile", extensions)
        return self

    def spki_sha256(self) -> str:
        """Base64 SHA-256 of the server key's SubjectPublicKeyInfo, what Chromium's
        --ignore-certificate-errors-spki-list takes."""
        public = _openssl("x509", "-in", self.cert, "-pubkey", "-noout", capture=True)
        der = subprocess.run([binary("openssl"), "pkey", "-pubin", "-outform", "der"],
                             input=public, capture_output=True, check=True).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _openssl(*args, capture: bool = False) -> bytes:
    result = subprocess.run([binary("openssl"), *map(str, args)], capture_output=True)
    if result.returncode:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout if capture else b""


# --- storage keys, one pair per role -----------------------------------------------------------

def storage_key_names(role: str) -> tuple[str, str]:
    return f"MINIO_{role.upper()}_ACCESS_KEY", f"MINIO_{role.upper()}_SECRET_KEY"


def new_storage_keys(roles=STORAGE_ROLES) -> dict[str, str]:
    import secrets

    keys = {}
    for role in roles:
        access, secret = storage_key_names(role)
        keys[access] = f"wes-{role}-" + secrets.token_hex(8)
        keys[secret] = secrets.token_urlsafe(32)
    return keys


def storage_environment(keys: dict[str, str], role: str, *, every_role: bool = False) -> dict:
    """A `role` process's storage settings: its role and its own key pair, both as
    MINIO_<ROLE>_* and as MINIO_ACCESS_KEY / MINIO_SECRET_KEY (which every other role falls back
    to in this process, so a call acting as another role is refused instead of signed with a
    broader key; production refuses an unset MINIO_ACCESS_KEY). `every_role`: all four pairs, for
    writing the identities file (`storage_policies --seaweedfs`) and nothing else."""
    access, secret = storage_key_names(role)
    env = {"WES_STORAGE_ROLE": role, access: keys[access], secret: keys[secret],
           "MINIO_ACCESS_KEY": keys[access], "MINIO_SECRET_KEY": keys[secret]}
    if every_role:
        env.update({name: keys[name] for other in STORAGE_ROLES
                    for name in storage_key_names(other)})
    return env


# --- PostgreSQL and Redis ---------------------------------------------------------------------

def initdb_command(data_dir: Path, password_file: Path, user: str = "wes") -> list[str]:
    return [binary("initdb"), "-D", str(data_dir), "-U", user, f"--pwfile={password_file}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"]


def postgres_command(data_dir: Path, port: int) -> list[str]:
    # TCP on loopback only; no Unix socket (its path length limit breaks deep temporary folders).
    return [binary("postgres"), "-D", str(data_dir), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", "max_connections=100"]


def redis_command(data_dir: Path, port: int, password: str) -> list[str]:
    # The queue's tasks survive a restart (append-only file); no RDB snapshots besides.
    return [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
            "--requirepass", password, "--dir", str(data_dir), "--appendonly", "yes",
            "--save", "", "--protected-mode", "yes"]


# --- S3 over TLS --------------------------------------------------------------------------------

class TlsSeaweedServer(SeaweedServer):
    """`weed mini` serving S3 over HTTPS on its S3 port, with SeaweedFS's own TLS flags
    (-s3.cert.file, -s3.key.file); no proxy in front of storage."""

    certificates: Certificates | None = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.s3_port}"

    def command(self) -> list[str]:
        return [*super().command(), f"-s3.cert.file={self.certificates.cert}",
                f"-s3.key.file={self.certificates.key}"]

    def s3_answers(self) -> bool:
        import ssl
        import urllib.error
        import urllib.request

        context = ssl.create_default_context(cafile=str(self.certificates.ca))
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1, context=context)
        except urllib.error.HTTPError as exc:
            return exc.code == 403
        except OSError:
            return False
        return True


# --- gunicorn, the workers, nginx ---------------------------------------------------------------

def gunicorn_command(port: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", *GUNICORN_ARGS, "--bind", f"127.0.0.1:{port}"]


def qcluster_command() -> list[str]:
    return [sys.executable, *QCLUSTER_ARGS]


def nginx_site(*, server_name: str, https_port: int, http_port: int, upstream: str,
               cert: Path, key: Path, metrics_allowed: list[str]) -> str:
    """deploy/nginx/wes-portal.conf.template with this installation's values (the same
    ${WES_NGINX_*} names the nginx container fills from its environment)."""
    allow = " ".join(f"allow {address};" for address in metrics_allowed)
    values = {"WES_NGINX_SERVER_NAME": server_name, "WES_NGINX_HTTPS_PORT": str(https_port),
              "WES_NGINX_HTTP_PORT": str(http_port), "WES_NGINX_UPSTREAM": upstream,
              "WES_NGINX_CERT": str(cert), "WES_NGINX_KEY": str(key),
              "WES_NGINX_METRICS_ALLOW": allow}
    # safe_substitute leaves nginx's own variables ($host, $scheme, ...) alone.
    return string.Template(NGINX_SITE_TEMPLATE.read_text()).safe_substitute(values)


def nginx_main_config(prefix: Path, site: Path) -> str:
    """A whole nginx.conf for an unprivileged nginx in `prefix` (its pid and temporary folders
    there), holding the site; a lab's nginx includes the site from /etc/nginx/sites-enabled."""
    temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir(parents=True, exist_ok=True)
    # Started as root (a test run in a container), the workers stay root to reach the run's
    # private folder; a lab's nginx runs its workers as www-data.
    import os

    return "\n".join([
        *(["user root;"] if os.geteuid() == 0 else []), "worker_processes 2;", f"pid {prefix / 'nginx.pid'};",
        f"error_log {prefix / 'error.log'} warn;", "events { worker_connections 512; }",
        "http {", "    access_log " + str(prefix / "access.log") + ";",
        "    default_type application/octet-stream;",
        *(f"    {name}_temp_path {folder};" for name, folder in temp.items()),
        f"    include {site};", "}", ""])


def nginx_command(prefix: Path) -> list[str]:
    return [binary("nginx"), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
            "-e", str(prefix / "error.log"), "-g", "daemon off;"]
