"""The servers bench/pages.py runs beside its timed requests, and the concurrent readers it sends
to gunicorn: a django-q2 cluster on the bench database (so /healthz answers), the web server,
and 50 signed-in clients for 30 s, each cycling through the pages people open daily."""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from bench.figures import p95
from bench.portal_server import PRODUCTION_ON_LOOPBACK

ROOT = Path(__file__).resolve().parents[1]
DJANGO_SECRET = "bench-pages-secret-key-not-for-production"   # the bench's process and the server's
LOAD_PAGES = ["lab home", "sample list", "sample detail", "job detail", "review queue",
              "variant viewer"]


def server_env(work: Path) -> dict:
    """This process's environment (storage, secret) with the test database as DATABASE_URL."""
    from django.db import connection

    db = connection.settings_dict
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, **PRODUCTION_ON_LOOPBACK, "DATABASE_URL": url,
            "DJANGO_SECRET_KEY": DJANGO_SECRET, "WES_LOG_LEVEL": "WARNING", "TMPDIR": str(work)}


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the process and its children
        process.wait()


def start_queue(work: Path) -> subprocess.Popen:
    """A django-q2 cluster with nothing to run: /healthz wants one alive (its schedules would
    start the reaper and archiving on the bench's made-up jobs, so they go first)."""
    from django_q.models import Schedule
    from django_q.status import Stat
    from django_q.brokers import get_broker

    Schedule.objects.all().delete()
    process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                               env=server_env(work), stdout=open(work / "qcluster.log", "ab"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not Stat.get_all(broker=get_broker()):
        if time.monotonic() > deadline or process.poll() is not None:
            stop(process)
            raise RuntimeError(f"the task queue did not start; see {work / 'qcluster.log'}")
        time.sleep(0.5)
    return process


def start_server(work: Path, workers: int) -> tuple[subprocess.Popen, str, str]:
    from storage.seaweed import free_port

    port = free_port()
    if importlib.util.find_spec("gunicorn"):
        kind = f"gunicorn portal.wsgi, {workers} sync workers"
        command = [sys.executable, "-m", "gunicorn", "portal.wsgi", "-w", str(workers),
                   "-b", f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "5"]
    else:
        kind = "manage.py runserver --noreload (threaded; gunicorn is not installed)"
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, cwd=ROOT, env=server_env(work),
                               stdout=open(work / "server.log", "ab"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/accounts/login/", timeout=2)
            return process, url, kind
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.3)
    stop(process)
    raise RuntimeError(f"the server did not start; see {work / 'server.log'}")


def concurrency(seeded, urls: dict, work: Path, clients: int, seconds: float,
                workers: int) -> dict:
    """`clients` signed-in readers at once for `seconds`, each cycling through the lab pages."""
    import requests
    from django.test import Client

    from tests.helpers import mark_mfa_passed

    sessions = []
    for _ in range(clients):   # one session each, as 50 browsers would have
        client = Client()
        client.force_login(seeded.manager)
        mark_mfa_passed(client, seeded.manager)   # managers must have passed two-factor
        sessions.append(client.cookies["sessionid"].value)
    process, base, kind = start_server(work, workers)
    records: list[tuple[str, float, str | None]] = []   # (page, ms, error or None)
    lock = threading.Lock()
    pages = [(name, urls[name]) for name in LOAD_PAGES]
    try:
        with requests.Session() as warm:   # every worker imports and connects once
            warm.headers["Cookie"] = f"sessionid={sessions[0]}"
            for n in range(workers * 2):
                warm.get(base + pages[n % len(pages)][1], timeout=60)
        start = time.monotonic()
        end = start + seconds

        def reader(n: int) -> None:
            mine = []
            with requests.Session() as http:
                http.headers["Cookie"] = f"sessionid={sessions[n]}"
                i = n
                while time.monotonic() < end:
                    name, url = pages[i % len(pages)]
                    i += 1
                    began = time.perf_counter()
                    try:
                        response = http.get(base + url, timeout=(5, 30), allow_redirects=False)
                        error = None if response.status_code == 200 else \
                            f"HTTP {response.status_code}"
                    except Exception as exc:
                        error = type(exc).__name__
                    mine.append((name, (time.perf_counter() - began) * 1000, error))
            with lock:
                records.extend(mine)

        threads = [threading.Thread(target=reader, args=(n,), daemon=True)
                   for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.1, end + 40 - time.monotonic()))
        elapsed = time.monotonic() - start   # to the last answer (or the hard timeout)
        hung = sum(thread.is_alive() for thread in threads)
    finally:
        stop(process)
    times = [ms for _name, ms, error in records if error is None] or [math.nan]
    errors: dict[str, int] = {}
    for _name, _ms, error in records:
        if error:
            errors[error] = errors.get(error, 0) + 1
    per_page = {}
    for name, _url in pages:
        mine = [ms for page, ms, error in records if page == name and error is None] or [math.nan]
        per_page[name] = {"requests": sum(page == name for page, _ms, _e in records),
                          "errors": sum(page == name and e is not None for page, _ms, e in records),
                          "p50_ms": round(statistics.median(mine), 1),
                          "p95_ms": round(p95(mine), 1)}
    answered = sum(error is None for _name, _ms, error in records)
    return {"server": kind, "clients": clients, "seconds": seconds,
            "seconds_to_last_answer": round(elapsed, 1), "requests": len(records),
            "requests_per_second": round(answered / elapsed, 1),
            "p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95(times), 1),
            "max_ms": round(max(times), 1), "errors": sum(errors.values()),
            "errors_by_kind": errors, "clients_still_waiting": hung, "pages": per_page}


def print_concurrency(figures: dict) -> None:
    print(f"\n{figures['clients']} signed-in readers for {figures['seconds']} s against "
          f"{figures['server']} (last answer after {figures['seconds_to_last_answer']} s): "
          f"{figures['requests']} requests, {figures['requests_per_second']} answered per "
          f"second, p50 {figures['p50_ms']} ms, "
          f"p95 {figures['p95_ms']} ms, max {figures['max_ms']} ms, errors "
          f"{figures['errors']} {figures['errors_by_kind'] or ''}")
    for name, f in figures["pages"].items():
        print(f"  {name:20} {f['requests']:5d} requests  p50 {f['p50_ms']:8.1f}  "
              f"p95 {f['p95_ms']:8.1f}  errors {f['errors']}")
