"""Pages at a lab's real scale (issue 12): every lab page and admin list at two sizes, against a
baseline, in one run, then 50 signed-in readers at once against a real server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.pages [--quick]

Works in temporary databases, never the portal's own: Django's test-database machinery creates
`test_<name>_<pid>` on the PostgreSQL server at DATABASE_URL, migrates it, and drops it after each
size. Each size gets a fresh database (so the seeding time of each is its own, and event ids
follow their times as in a real log), seeded by bench/seed_scale.py (bulk inserts, COPY for the
audit log, `load_variants` for the variant table; the audit rows look chained but do not verify,
see that module):

    small: 5 labs, 180 samples (100 in the largest lab), 10,000 audit events, 5,000 variants
    large: 50 labs, 11,111 samples (5,000 in the largest lab), ~9,500 jobs, a few hundred reports
           pending review, 1,000,000 audit events over 12 months, one job of 50,000 variants

SeaweedFS (`weed mini`, loopback) and a django-q2 cluster (its schedules deleted, so it runs
nothing) are started too, so /healthz answers 200 through every check, as in production.

Timed through Django's test client in this process, as the bench's personas: the manager of the
largest lab (lab pages), a superuser (admin pages), signed out (baselines, /healthz). Each round
requests every case once, in turn, so the shared machine's load falls on all of them alike; two
warm-up rounds first. A case stops being requested once it has `--case-seconds` of samples and at
least 5 (the slow ones before a fix would otherwise take the run past 15 minutes); `n` says how
many. Per case: p50, p95 (nearest rank), max, the ratio of p50 and p95 to the sign-in page's
(the baseline; a static file served by WhiteNoise is the floor of the test client), the SQL
queries of one request (counted apart from the timed ones) and the slowest three of them.

Goals (issue 12), checked at the large size: every lab page, admin list and /healthz under 50 ms
at p95; the admin audit search by resource id under 200 ms at p95; no page making more queries
at the large size than at the small one; no page answering anything but 200. Absolute times are
noisy on a shared machine: compare the ratios and the query counts between runs.

Then, on the large database: `gunicorn portal.wsgi` (4 sync workers; `runserver` threaded when
gunicorn is not installed, named in the results), and 50 clients, each a requests.Session with its
own signed-in session of the manager, cycling through the lab pages for 30 s. Per request a hard
timeout of 30 s; requests still running then count as errors. Reported: requests, answered
requests per second (over the time to the last answer), p50/p95/max of the answered ones, errors
(any non-200 or exception), per page.

The table is printed, everything is written to bench/out/pages.json (or --out), and the exit
status is 1 when a goal is missed.

`--profile` also runs each page 20 times more under cProfile at each size (after the timing, so
the figures are not touched), keeps the statistics in bench/out/profiles/<size>-<page>.prof (for
`python -m pstats` or snakeviz) and prints each page's ten functions with the most time of their
own: where a page's Python time goes once its queries are few and fast.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import finish, p95
from bench.readers import DJANGO_SECRET, concurrency, print_concurrency, start_queue, stop
from bench.seed_scale import Scale

ROOT = Path(__file__).resolve().parents[1]
ACCESS_KEY, SECRET_KEY = "wes-bench-access", "wes-bench-secret-key"
PAGE_MS, SEARCH_MS = 50, 200
BASELINE, FLOOR = "baseline: sign-in page", "floor: static file"
SIZES = {
    "full": {"small": Scale(labs=5, big_lab_samples=100, samples=180, events=10_000,
                            variants=5_000),
             "large": Scale(labs=50, big_lab_samples=5_000, samples=11_111, events=1_000_000,
                            variants=50_000)},
    "quick": {"small": Scale(labs=3, big_lab_samples=50, samples=80, events=2_000,
                             variants=2_000),
              "large": Scale(labs=10, big_lab_samples=1_000, samples=2_000, events=100_000,
                             variants=10_000)},
}
# name -> (persona, URL with {lab}, {lab_id}, {sample}, {job}, {q}, goal in ms or None)
CASES = {
    BASELINE: ("anonymous", "/accounts/login/", None),
    FLOOR: ("anonymous", "/static/vendor/htmx.min.js", None),
    "lab home": ("manager", "/labs/{lab}/", PAGE_MS),
    "sample list": ("manager", "/labs/{lab}/samples/", PAGE_MS),
    "sample list, search": ("manager", "/labs/{lab}/samples/?q={q}", PAGE_MS),
    "sample list, sorted by name": ("manager", "/labs/{lab}/samples/?sort=name", PAGE_MS),
    "sample list, page 20": ("manager", "/labs/{lab}/samples/?page=20", PAGE_MS),
    "sample detail": ("manager", "/labs/{lab}/samples/{sample}/", PAGE_MS),
    "job detail": ("manager", "/labs/{lab}/jobs/{job}/", PAGE_MS),
    "review queue": ("manager", "/labs/{lab}/reviews/", PAGE_MS),
    "variant viewer": ("manager", "/labs/{lab}/jobs/{job}/variants/", PAGE_MS),
    "healthz": ("anonymous", "/healthz", PAGE_MS),
    "admin: audit list": ("staff", "/admin/tenants/auditevent/", PAGE_MS),
    "admin: audit search by resource id": ("staff", "/admin/tenants/auditevent/?q={sample}",
                                           SEARCH_MS),
    "admin: audit by lab": ("staff", "/admin/tenants/auditevent/?lab__id__exact={lab_id}",
                            PAGE_MS),
    "admin: audit by action": ("staff", "/admin/tenants/auditevent/?action__exact=sample.viewed",
                               PAGE_MS),
    "admin: job list": ("staff", "/admin/jobs/job/", PAGE_MS),
    "admin: sample list": ("staff", "/admin/jobs/sample/", PAGE_MS),
    "admin: usage": ("staff", "/admin/usage/", PAGE_MS),
}
MIN_SAMPLES = 5


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)



def get(client, url):
    """(status, body) of one GET through the test client, the body read whole."""
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    response.close()
    return response.status_code, body


def short(sql: str) -> str:
    """The start (what is read) and the end (the WHERE, ORDER and LIMIT) of a long statement."""
    return sql if len(sql) <= 600 else f"{sql[:250]} ... {sql[-350:]}"


def measure(requests: dict, repeat: int, case_seconds: float, warm: int = 2) -> dict:
    """`requests`: name -> (client, url, goal). Rounds of one request per case."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = {name: [] for name in requests}
    spent = {name: 0.0 for name in requests}
    errors = {name: [] for name in requests}
    for n in range(warm + repeat):
        for name, (client, url, _goal) in requests.items():
            if n >= warm and len(timings[name]) >= MIN_SAMPLES and spent[name] > case_seconds:
                continue
            started = time.perf_counter()
            try:
                status, body = get(client, url)
            except Exception as exc:  # a page that raises is a result, not the end of the run
                errors[name].append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                errors[name].append(f"HTTP {status}: {body[:200].decode(errors='replace')}")
            if n >= warm:
                timings[name].append(elapsed)
                spent[name] += elapsed / 1000
    results = {}
    for name, (client, url, goal) in requests.items():
        status, body, queries = None, b"", []
        try:
            with CaptureQueriesContext(connection) as captured:
                status, body = get(client, url)
            queries = captured.captured_queries
        except Exception as exc:
            errors[name].append(f"{type(exc).__name__}: {exc}"[:300])
        times = timings[name] or [math.nan]
        slowest = sorted(queries, key=lambda q: -float(q["time"]))[:3]
        results[name] = {
            "url": url, "goal_p95_ms": goal, "n": len(timings[name]), "status": status,
            "p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95(times), 1),
            "max_ms": round(max(times), 1), "queries": len(queries) if status else None,
            "bytes": len(body), "errors": sorted(set(errors[name]))[:5],
            "error_count": len(errors[name]),
            "slowest_queries": [{"ms": round(float(q["time"]) * 1000, 1), "sql": short(q["sql"])}
                                for q in slowest]}
    base = results[BASELINE]
    for figures in results.values():
        figures["p50_vs_baseline"] = round(figures["p50_ms"] / base["p50_ms"], 2)
        figures["p95_vs_baseline"] = round(figures["p95_ms"] / base["p95_ms"], 2)
    return results


def profile_pages(label: str, requests: dict, rounds: int = 20) -> None:
    """cProfile `rounds` requests of each page; keep the statistics, print the top own times."""
    import cProfile
    import io
    import pstats
    import re

    from bench.figures import OUT

    folder = OUT / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (client, url, _goal) in requests.items():
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(rounds):
            get(client, url)
        profiler.disable()
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        profiler.dump_stats(folder / f"{label}-{slug}.prof")
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(10)
        calls = stats.total_calls / rounds   # type: ignore[attr-defined]
        print(f"\n{label}: {name}: {calls:,.0f} function calls a request; most own time:")
        rows = [line for line in text.getvalue().splitlines()
                if re.match(r"\s*\d", line) and "function calls" not in line]
        print("\n".join(rows[:11]))


def print_size(label: str, scale: Scale, results: dict, load_average: float) -> None:
    print(f"\n{label}: {scale.labs} labs, {scale.samples:,} samples ({scale.big_lab_samples:,} in "
          f"the largest lab), {scale.events:,} audit events, {scale.variants:,} variants "
          f"(ratio: p95 / p95 of the sign-in page; load average {load_average} on "
          f"{os.cpu_count()} CPUs before the rounds)")
    print(f"{'page':38} {'n':>3} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'ratio':>7} "
          f"{'queries':>7} {'goal':>5}")
    for name, f in results.items():
        over = f["goal_p95_ms"] and not f["p95_ms"] <= f["goal_p95_ms"]
        flag = ("  ERRORS" if f["error_count"] else "") + ("  OVER" if over else "")
        queries = "-" if f["queries"] is None else f["queries"]
        print(f"{name:38} {f['n']:3d} {f['p50_ms']:8.1f} {f['p95_ms']:8.1f} {f['max_ms']:8.1f} "
              f"{f['p95_vs_baseline']:7.2f} {queries:>7} {f['goal_p95_ms'] or '':>5}{flag}")


def print_side_by_side(small: dict, large: dict) -> None:
    print("\nside by side (p95 ms, its ratio to the sign-in page's p95, queries)")
    print(f"{'page':38} {'small p95':>10} {'ratio':>7} {'q':>4} {'large p95':>10} {'ratio':>7} "
          f"{'q':>4}  verdict")
    for name in small:
        s, g = small[name], large[name]
        verdict = []
        if g["goal_p95_ms"] and not g["p95_ms"] <= g["goal_p95_ms"]:
            verdict.append(f"over {g['goal_p95_ms']} ms")
        if None not in (s["queries"], g["queries"]) and g["queries"] > s["queries"]:
            verdict.append("queries grow")
        if s["error_count"] or g["error_count"]:
            verdict.append("errors")
        print(f"{name:38} {s['p95_ms']:10.1f} {s['p95_vs_baseline']:7.2f} "
              f"{s['queries'] if s['queries'] is not None else '-':>4} {g['p95_ms']:10.1f} "
              f"{g['p95_vs_baseline']:7.2f} {g['queries'] if g['queries'] is not None else '-':>4}"
              f"  {', '.join(verdict) or 'ok'}")


def git_state() -> dict:
    def run(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    return {"commit": run("rev-parse", "HEAD").strip(),
            "dirty": bool(run("status", "--porcelain", "--untracked-files=no").strip())}


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, 10 rounds, 20 readers for 10 s: to try it out")
    parser.add_argument("--repeat", type=int, help="rounds after the warm-up (30; quick 10)")
    parser.add_argument("--case-seconds", type=float, default=15,
                        help="stop timing a case once it has taken this long (and >= 5 samples)")
    parser.add_argument("--clients", type=int, help="concurrent readers (50; quick 20)")
    parser.add_argument("--seconds", type=float, help="of concurrent load (30; quick 10)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--no-concurrency", action="store_true")
    parser.add_argument("--out", default="pages.json", help="file name under bench/out/")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile every page after the timing (bench/out/profiles/)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    repeat = args.repeat or (10 if args.quick else 30)
    clients = args.clients or (20 if args.quick else 50)
    seconds = args.seconds or (10 if args.quick else 30)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server: the figures are PostgreSQL's")

    from storage.seaweed import SeaweedServer

    work = Path(tempfile.mkdtemp(prefix="wes-bench-pages-"))
    (work / "jobs").mkdir()
    seaweed = SeaweedServer(work / "seaweedfs", ACCESS_KEY, SECRET_KEY)
    seaweed.start()
    os.environ.update(DJANGO_SETTINGS_MODULE="portal.settings", DJANGO_DEBUG="true",
                      DJANGO_SECRET_KEY=DJANGO_SECRET, WES_VAR_DIR=str(work),
                      WES_WORK_DIR=str(work / "jobs"), MINIO_ENDPOINT=seaweed.endpoint,
                      MINIO_PUBLIC_ENDPOINT=seaweed.endpoint, MINIO_ACCESS_KEY=ACCESS_KEY,
                      MINIO_SECRET_KEY=SECRET_KEY, WES_LOG_LEVEL="WARNING")
    os.environ.pop("REDIS_URL", None)   # cache and queue in the (throw-away) database
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import setup_databases, teardown_databases

    from bench.seed_scale import seed
    from storage import provisioning

    # As served: DEBUG keeps every query's SQL, and the test environment's template
    # instrumentation (setup_test_environment) is left out; "localhost" is an allowed host.
    settings.DEBUG = False
    results: dict = {"mode": mode, "git": git_state(), "started": time.strftime("%Y-%m-%d %H:%M"),
                     "database": connection.vendor, "cpus": os.cpu_count(), "repeat": repeat,
                     "case_seconds": args.case_seconds,
                     "baseline": "GET /accounts/login/ signed out (sign-in page)",
                     "goals": {"page_p95_ms": PAGE_MS, "audit_search_p95_ms": SEARCH_MS,
                               "queries": "no more at the large size than at the small",
                               "errors": "none, in the rounds and under load"},
                     "sizes": {}}
    failures: list[str] = []
    try:
        provisioning.apply()
        for label, scale in SIZES[mode].items():
            old_config = setup_databases(verbosity=0, interactive=False)
            queue = None
            try:
                progress(f"{label}: seeding {scale}")
                started = time.perf_counter()
                seeded = seed(scale)
                seed_seconds = round(time.perf_counter() - started, 1)
                progress(f"{label}: seeded in {seed_seconds} s {seeded.seconds}")
                # A served process does not hold the seeding's millions of objects: without this,
                # the collector's full passes over them land in the timed requests (200 ms pauses).
                gc.collect()
                gc.freeze()
                queue = start_queue(work)
                personas = {"anonymous": Client(SERVER_NAME="localhost"),
                            "manager": Client(SERVER_NAME="localhost"),
                            "staff": Client(SERVER_NAME="localhost")}
                from tests.helpers import mark_mfa_passed

                for persona in ("manager", "staff"):   # both must have passed two-factor
                    user = getattr(seeded, persona)
                    personas[persona].force_login(user)
                    mark_mfa_passed(personas[persona], user)
                values = {"lab": seeded.lab.slug, "lab_id": seeded.lab.pk,
                          "sample": seeded.sample.pk, "job": seeded.job.pk,
                          "q": seeded.sample.name[:-1]}
                urls = {name: url.format(**values) for name, (_p, url, _g) in CASES.items()}
                requests = {name: (personas[persona], urls[name], goal)
                            for name, (persona, _url, goal) in CASES.items()}
                progress(f"{label}: timing {len(requests)} pages x {repeat} rounds")
                load_average = round(os.getloadavg()[0], 2)
                figures = measure(requests, repeat, args.case_seconds)
                print_size(label, scale, figures, load_average)
                if args.profile:
                    profile_pages(label, requests)
                results["sizes"][label] = {
                    "scale": scale.__dict__, "counts": seeded.counts,
                    "seed_seconds": seed_seconds, "seed_seconds_by_step": seeded.seconds,
                    "load_average_before": load_average, "pages": figures}
                if label == "large" and not args.no_concurrency:
                    progress(f"{label}: {clients} readers for {seconds} s")
                    load = concurrency(seeded, urls, work, clients, seconds, args.workers)
                    results["concurrency"] = load
                    print_concurrency(load)
                    if load["errors"] or load["clients_still_waiting"]:
                        failures.append(f"under load: {load['errors']} errors "
                                        f"{load['errors_by_kind']}, "
                                        f"{load['clients_still_waiting']} readers still waiting")
            finally:
                stop(queue)
                for conn in connections.all():
                    conn.close()
                teardown_databases(old_config, verbosity=0)
    finally:
        seaweed.stop()

    small, large = (results["sizes"][label]["pages"] for label in ("small", "large"))
    print_side_by_side(small, large)
    for name in CASES:
        s, g = small[name], large[name]
        for label, f in (("small", s), ("large", g)):
            if f["error_count"]:
                failures.append(f"{name}: {f['error_count']} errors at the {label} size: "
                                f"{f['errors'][0]}")
        if g["goal_p95_ms"] and not g["p95_ms"] <= g["goal_p95_ms"]:
            failures.append(f"{name}: p95 {g['p95_ms']} ms at the large size, over "
                            f"{g['goal_p95_ms']} ms")
        if None not in (s["queries"], g["queries"]) and g["queries"] > s["queries"]:
            failures.append(f"{name}: {s['queries']} queries at the small size, {g['queries']} "
                            f"at the large: the count grows with the data")
    return finish(results, args.out, failures,
                  f"every page under {PAGE_MS} ms at p95 (the audit search under {SEARCH_MS} ms), "
                  "query counts constant, no errors under load")


if __name__ == "__main__":
    main()
