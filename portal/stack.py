"""`python -m portal.stack`: the portal as production runs it, on this machine.

PostgreSQL (its own cluster), Redis (its own server), SeaweedFS serving S3 over TLS, gunicorn
behind nginx (TLS, HSTS from Django, HTTP redirected), two django-q2 clusters and the records
cluster on the Redis broker, all on free loopback ports, with a certificate authority made for the
run that the portal trusts for storage (AWS_CA_BUNDLE). Settings are production's: DJANGO_DEBUG
off, secrets generated for the run and kept in `<dir>/secrets.env` (mode 0600). Storage has least
privilege: one key pair per role (storage/credentials.py), SeaweedFS started with their
identities; gunicorn holds only the web key, the task clusters only the worker key, the records
cluster only the records key, and manage.py (deploy steps, `<dir>/stack.env`) the admin key.
Ctrl-C stops everything it started.
`python -m portal.stack nginx-conf ...` prints the nginx site for a lab's own machine.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from portal import stack_parts as parts
from storage.seaweed import free_port

BASE_DIR = Path(__file__).resolve().parent.parent


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


class Stack:
    def __init__(self, folder: Path, *, https_port: int = 0, workers: int = 2,
                 worker_processes: int = 1):
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.certificates = parts.Certificates(self.folder / "tls")
        self.ports = {name: free_port() for name in ("postgres", "redis", "s3", "gunicorn", "http")}
        self.ports["https"] = https_port or free_port()
        self.workers, self.worker_processes = workers, worker_processes
        self.processes: dict[str, subprocess.Popen] = {}
        self.s3: parts.TlsSeaweedServer | None = None
        self.secrets = self._secrets()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.ports['https']}"

    def log(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"

    def _secrets(self) -> dict[str, str]:
        """Generated once per folder: a rerun finds its database, storage and audit chain. A
        folder from before the per-role storage keys gets them added (its one key becomes the
        admin's)."""
        path = self.folder / "secrets.env"
        if not path.exists():
            token = lambda: secrets.token_urlsafe(32)  # noqa: E731
            path.touch(mode=0o600)
            path.write_text("".join(f"{name}={value}\n" for name, value in {
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DB_PASSWORD": token(),
                "REDIS_PASSWORD": token(), "WES_AUDIT_KEYS": f"k1:{token()}",
                "WES_HEALTH_TOKEN": token(), "WES_METRICS_TOKEN": token()}.items()))
        values = read_env_file(path)
        missing = [role for role in parts.STORAGE_ROLES
                   if parts.storage_key_names(role)[0] not in values]
        if missing:
            added = parts.new_storage_keys(missing)
            if "admin" in missing and "MINIO_ACCESS_KEY" in values:
                added.update(dict(zip(parts.storage_key_names("admin"), (
                    values["MINIO_ACCESS_KEY"], values["MINIO_SECRET_KEY"]))))
            with open(path, "a") as file:
                file.write("".join(f"{name}={value}\n" for name, value in added.items()))
            values = read_env_file(path)
        return values

    def environment(self, role: str = "admin", *, every_role: bool = False) -> dict[str, str]:
        """What a process of storage role `role` runs with: production settings, nothing
        defaulted, and only its own role's storage keys (see stack_parts.storage_environment)."""
        s, p = self.secrets, self.ports
        env = self.outside_environment()
        env.update({
            "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": s["DJANGO_SECRET_KEY"],
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_CSRF_TRUSTED_ORIGINS": self.url,
            "DJANGO_BEHIND_TLS_PROXY": "true", "WES_TRUSTED_PROXY_HOPS": "1",
            "DJANGO_STATIC_ROOT": str(self.folder / "static"),
            # No mail server here: mails go to the web and worker logs.
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "DATABASE_URL": f"postgres://wes:{s['DB_PASSWORD']}@127.0.0.1:{p['postgres']}/wes",
            "REDIS_URL": f"redis://:{s['REDIS_PASSWORD']}@127.0.0.1:{p['redis']}/0",
            "MINIO_ENDPOINT": f"https://127.0.0.1:{p['s3']}",
            "MINIO_PUBLIC_ENDPOINT": f"https://127.0.0.1:{p['s3']}",
            **parts.storage_environment(s, role, every_role=every_role),
            "WES_RECORDS_CLUSTER": parts.RECORDS_CLUSTER,
            "AWS_CA_BUNDLE": str(self.certificates.ca),
            "WES_AUDIT_KEYS": s["WES_AUDIT_KEYS"], "WES_HEALTH_TOKEN": s["WES_HEALTH_TOKEN"],
            "WES_METRICS_TOKEN": s["WES_METRICS_TOKEN"], "WES_METRICS_ALLOWED_IPS": "127.0.0.1",
            "WES_UPLOAD_ORIGINS": self.url, "WES_PUBLIC_URL": self.url + "/",
            "WES_VAR_DIR": str(self.folder / "var"), "WES_WORK_DIR": str(self.folder / "work"),
            "WES_PIPELINE_RUNNER": os.environ.get("WES_PIPELINE_RUNNER", "local"),
            "WES_REFERENCE_BUILD": "wes-mini",
            "WES_QUEUE_WORKERS": str(self.worker_processes),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    @staticmethod
    def outside_environment() -> dict[str, str]:
        """This shell's environment without the portal's settings: PostgreSQL, Redis and nginx
        run with it (no storage key)."""
        return {k: v for k, v in os.environ.items()
                if not k.startswith(("DJANGO_", "MINIO_", "WES_", "AWS_", "Q_CLUSTER"))
                and k not in {"DATABASE_URL", "REDIS_URL"}}

    def write_env_file(self) -> Path:
        """stack.env: the admin's environment, for manage.py by hand (a deploy step's role)."""
        path = self.folder / "stack.env"
        path.touch(mode=0o600)
        keep = {k: v for k, v in self.environment("admin").items()
                if k.startswith(("DJANGO_", "MINIO_", "WES_", "AWS_")) or k in {
                    "DATABASE_URL", "REDIS_URL"}}
        path.write_text("".join(f"{k}={v}\n" for k, v in sorted(keep.items())))
        return path

    # --- starting ------------------------------------------------------------------------------

    def start(self, *, reference: Path | None = None, demo_sample: Path | None = None,
              say=lambda text: None) -> str:
        """Starts every part and returns seed_demo's output (the demo users' passwords)."""
        say("certificate authority for this run")
        self.certificates.create()
        say("PostgreSQL, Redis and SeaweedFS (S3 over TLS)")
        self._start_postgres()
        self._spawn("redis", parts.redis_command(self._folder("redis"), self.ports["redis"],
                                                 self.secrets["REDIS_PASSWORD"]))
        identities = self.folder / "s3.json"     # each role's key and rights (mode 0600)
        self.manage("storage_policies", "--seaweedfs", str(identities), every_role=True)
        admin = [self.secrets[name] for name in parts.storage_key_names("admin")]
        self.s3 = parts.TlsSeaweedServer(self._folder("seaweedfs"), *admin,
                                         s3_port=self.ports["s3"], log_path=self.log("seaweedfs"),
                                         s3_config=identities)
        self.s3.certificates = self.certificates
        self.s3.start()
        self._wait("PostgreSQL", self._postgres_ready)
        self._wait("Redis", self._redis_ready)
        say("migrations, buckets, static files, demo lab")
        static = subprocess.Popen([sys.executable, "manage.py", "collectstatic", "--no-input",
                                   "-v", "0"], cwd=BASE_DIR, env=self.environment(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("setup_storage")
        if static.wait() != 0:
            raise RuntimeError(f"manage.py collectstatic failed:\n{static.stderr.read().decode()}")
        static.stderr.close()
        if reference:
            self.manage("load_reference", "wes-mini", str(reference),
                        "--scratch", str(self.folder / "reference-built"))
        seeded = self.manage("seed_demo", *(["--sample-from", str(demo_sample)]
                                            if demo_sample else []))
        self.write_env_file()
        say(f"gunicorn, {self.workers} task clusters and the records cluster on Redis, nginx")
        metrics_dir = self.folder / "metrics"   # the web workers' counters, emptied each start
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        self._spawn("gunicorn", parts.gunicorn_command(self.ports["gunicorn"]),
                    {**self.environment("web"), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
        for number in range(1, self.workers + 1):
            self._spawn(f"worker{number}", parts.qcluster_command(), self.environment("worker"))
        self._spawn("records", parts.qcluster_command(), {
            **self.environment("records"), "Q_CLUSTER_NAME": parts.RECORDS_CLUSTER})
        self._start_nginx()
        self._wait("the portal through nginx", self._portal_ready, timeout=90)
        return seeded

    def manage(self, *args: str, every_role: bool = False) -> str:
        """manage.py as a deploy step: the admin role and key."""
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR,
                                env=self.environment("admin", every_role=every_role),
                                capture_output=True, text=True)
        with open(self.log("manage"), "a") as log:
            log.write(f"$ manage.py {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def _folder(self, name: str) -> Path:
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _spawn(self, name: str, command: list[str], env: dict | None = None,
               user: str | None = None) -> None:
        self.log(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log(name), "ab") as log:
            self.processes[name] = subprocess.Popen(
                command, cwd=BASE_DIR, env=env or self.outside_environment(), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                user=user)

    def _start_postgres(self) -> None:
        data, user = self._postgres_data_dir()
        if not (data / "PG_VERSION").exists():
            password_file = data.parent / f"{data.name}.password"
            password_file.touch(mode=0o600)
            password_file.write_text(self.secrets["DB_PASSWORD"] + "\n")
            if user:
                shutil.chown(password_file, user)
            self.log("initdb").parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(self.log("initdb"), "wb") as log:
                    subprocess.run(parts.initdb_command(data, password_file), check=True,
                                   stdout=log, stderr=subprocess.STDOUT, user=user)
            finally:
                password_file.unlink()
        self._spawn("postgres", parts.postgres_command(data, self.ports["postgres"]), user=user)

    def _postgres_data_dir(self) -> tuple[Path, str | None]:
        """PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres`
        user, in this folder when that user can reach it, else in a folder of its own in /tmp."""
        data = self.folder / "postgres"
        if os.geteuid() != 0:
            return data, None
        reachable = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x",
                                    str(self.folder)]).returncode == 0
        if not reachable:
            pointer = self.folder / "postgres-location"
            if pointer.exists() and Path(pointer.read_text().strip()).exists():
                data = Path(pointer.read_text().strip())
            else:
                data = Path(tempfile.mkdtemp(prefix="wes-stack-postgres-")) / "data"
                pointer.write_text(f"{data}\n")
                shutil.chown(data.parent, "postgres", "postgres")
        data.mkdir(mode=0o700, exist_ok=True)
        shutil.chown(data, "postgres", "postgres")
        return data, "postgres"

    def _postgres_ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(host="127.0.0.1", port=self.ports["postgres"], user="wes",
                                 password=self.secrets["DB_PASSWORD"], dbname="postgres",
                                 connect_timeout=2, autocommit=True) as connection:
                if not connection.execute("SELECT 1 FROM pg_database WHERE datname = 'wes'"
                                          ).fetchone():
                    connection.execute("CREATE DATABASE wes")
            return True
        except psycopg.OperationalError:
            return False

    def _redis_ready(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.environment()["REDIS_URL"], socket_timeout=2).ping()
        except redis.exceptions.RedisError:
            return False

    def _start_nginx(self) -> None:
        prefix = self._folder("nginx")
        site = prefix / "wes-portal.conf"
        site.write_text(parts.nginx_site(
            server_name="127.0.0.1 localhost", https_port=self.ports["https"],
            http_port=self.ports["http"], upstream=f"127.0.0.1:{self.ports['gunicorn']}",
            cert=self.certificates.cert, key=self.certificates.key, metrics_allowed=["127.0.0.1"]))
        (prefix / "nginx.conf").write_text(parts.nginx_main_config(prefix, site))
        self._spawn("nginx", parts.nginx_command(prefix))

    def _portal_ready(self) -> bool:
        import requests

        try:
            return requests.get(self.url + "/healthz", verify=str(self.certificates.ca),
                                timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def _wait(self, what: str, ready, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            gone = [name for name, process in self.processes.items() if process.poll() is not None]
            if gone:
                raise RuntimeError(f"{', '.join(gone)} stopped while waiting for {what}; see "
                                   f"{self.log(gone[0])}")
            time.sleep(0.3)
        raise RuntimeError(f"{what} did not answer within {timeout:.0f}s; logs in "
                           f"{self.log('x').parent}")

    # --- stopping ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Front to back: nginx, gunicorn, the workers, storage, Redis, PostgreSQL."""
        front = ["nginx", "gunicorn",
                 *[n for n in self.processes if n.startswith("worker") or n == "records"]]
        for name in front:   # all at once: each finishes its own requests or tasks
            if name in self.processes and self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)
        for name in front:
            self._stop(name, signal.SIGTERM)
        if self.s3:
            self.s3.stop()
        self._stop("redis", signal.SIGTERM)
        self._stop("postgres", signal.SIGINT)   # PostgreSQL's fast shutdown

    def discard(self) -> None:
        """After stop(): removes a PostgreSQL cluster kept outside the folder (see above)."""
        pointer = self.folder / "postgres-location"
        if pointer.exists():
            shutil.rmtree(Path(pointer.read_text().strip()).parent, ignore_errors=True)
            pointer.unlink()

    def _stop(self, name: str, signum: int, timeout: float = 20) -> None:
        process = self.processes.get(name)
        if not process or process.poll() is not None:
            return
        try:
            process.send_signal(signum)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)   # whatever it left behind in its session
        except ProcessLookupError:
            pass
        process.wait()

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def credentials(seeded: str) -> dict[str, tuple[str, str]]:
    return {role: (email, password) for role, email, password in re.findall(
        r"^\s+(clinician|manager|staff)\s+(\S+@\S+)\s+(\S+)$", seeded, re.M)}


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.stack", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="start the stack with demo data (the default)")
    run.add_argument("--dir", type=Path, default=BASE_DIR / "var/stack")
    run.add_argument("--port", type=int, default=int(os.environ.get("WES_STACK_PORT", "8443")))
    conf = commands.add_parser("nginx-conf", help="print the nginx site for this machine")
    conf.add_argument("--server-name", required=True)
    conf.add_argument("--https-port", type=int, default=443)
    conf.add_argument("--http-port", type=int, default=80)
    conf.add_argument("--upstream", default="127.0.0.1:8000")
    conf.add_argument("--cert", required=True)
    conf.add_argument("--key", required=True)
    conf.add_argument("--metrics-allow", default="127.0.0.1",
                      help="comma-separated addresses or CIDR ranges (WES_METRICS_ALLOWED_IPS)")
    args = parser.parse_args(argv)
    if args.command == "nginx-conf":
        print(parts.nginx_site(server_name=args.server_name, https_port=args.https_port,
                               http_port=args.http_port, upstream=args.upstream, cert=args.cert,
                               key=args.key, metrics_allowed=args.metrics_allow.split(",")))
        return 0
    return run_with_demo(getattr(args, "dir", BASE_DIR / "var/stack"),
                         getattr(args, "port", int(os.environ.get("WES_STACK_PORT", "8443"))))


def run_with_demo(folder: Path, port: int) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    if missing := parts.missing_binaries():
        print("error: " + "; ".join(missing), file=sys.stderr)
        return 1
    from portal.devstack import prepare_demo_data

    stack = Stack(folder, https_port=port)
    try:
        demo = prepare_demo_data(stack.folder)
        seeded = stack.start(reference=demo, demo_sample=demo,
                             say=lambda text: print(f"==> {text}", flush=True))
        print(seeded.rstrip())
        print(f"\n    WES Portal: {stack.url}/\n    CA certificate: {stack.certificates.ca}"
              f"\n    settings (the admin role's): {stack.folder / 'stack.env'}"
              f"\n    logs: {stack.folder / 'logs'}"
              f"\n    manage.py against it: set -a; . {stack.folder / 'stack.env'}; set +a; "
              ".venv/bin/python manage.py COMMAND\n    Ctrl-C stops everything.\n", flush=True)
        while all(process.poll() is None for process in stack.processes.values()):
            time.sleep(0.5)
        gone = [name for name, process in stack.processes.items() if process.poll() is not None]
        print(f"{', '.join(gone)} stopped on its own; shutting down", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> stopping", flush=True)
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
