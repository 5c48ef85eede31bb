"""Variant viewer benchmark: the review's filters on a 50,000-row job against a baseline, one run.

    .venv/bin/python -m bench.variants [--rows 50000] [--small 5000] [--repeat 30]

Works in a temporary database, never the portal's own: Django's test-database machinery creates
`test_<name>_<pid>` on the PostgreSQL server at DATABASE_URL (SQLite when it is unset), migrates
it, and drops it at the end. Two jobs of one lab are seeded with `generated_table` (an exome's
spread of consequences, population frequencies and ClinVar values; the generator the viewer's
tests use), loaded with `load_variants` (COPY), plus per-gene coverage of every gene in the
table and a lab panel of 100 of those genes. Each case is a GET of the variant viewer through
Django's test client, signed in as the lab's manager: session, access checks, the filter form,
the table summary, the page's queries, the audit event and the whole template.

Baseline, in the same run and the same rounds: the sign-in page (GET /accounts/login/, signed
out; the cheapest page through the full middleware stack and a template). A static file served by
WhiteNoise is timed too, as the floor of the test client itself.

Each round requests every case once, in turn, so the machine's load (it is shared) falls on all
of them alike; `--repeat` rounds follow three warm-up rounds. Per case: p50 and p95 wall time,
the ratio of the p50 to the baseline's p50, and the SQL queries of one request (counted apart
from the timed requests). Goals (issue 11): every viewer case's p95 under 200 ms (on both jobs),
and no case making more queries on the large job than on the small one. The table is
printed, the figures are written to bench/out/variants.json, and the exit status is 1 when a
goal is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

from bench.figures import finish, p95
BUDGET_MS = 200
PANEL_GENES = 100
BASELINE = "baseline: sign-in page"
# name -> query string of the viewer (the viewer applies max_af_pct=1 when the URL has none)
CASES = {
    "default view": "",
    "frequency + ClinVar P/LP, VUS": "max_af_pct=1&clinvar=pathogenic&clinvar=uncertain",
    "panel + frequency": "panel={panel}&max_af_pct=1",
    "panel + frequency (htmx)": "panel={panel}&max_af_pct=1",
    "two hits + frequency + PASS": "two_hits=on&max_af_pct=1&pass_only=on",
    "impact + depth + PASS, -qual, page 2":
        "impact=HIGH&impact=MODERATE&min_depth=20&pass_only=on&sort=-qual&page=2",
    "by population AF, page 40": "sort=gnomad_af&page=40",
    "by population AF, page 40 (htmx)": "sort=gnomad_af&page=40",
    "no frequency limit, by quality": "max_af_pct=&sort=-qual",
    # load_variants puts the table summary in the cache when it commits; this is a view after the
    # cache lost it (evicted, or a Redis restart)
    "default view, summary not cached": "",
}
HTMX = {"panel + frequency (htmx)", "by population AF, page 40 (htmx)"}
UNCACHED = {"default view, summary not cached"}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def seed(member, name: str, rows: int, panel_version=None):
    """A finished job with `rows` generated variants and the coverage of every gene in them; the
    lab's panel (100 genes of this table) is made with the first job."""
    from jobs.results.coverage import load_gene_coverage
    from jobs.results.tests.test_variants import generated_table, make_job
    from jobs.results.variant_table import load_variants
    from jobs.review.panels import panel_create

    job = make_job(member, name)
    table = generated_table(rows, sample=name)
    started = time.perf_counter()
    assert load_variants(job=job, lines=table) == rows
    load_seconds = time.perf_counter() - started
    genes = sorted({line.split("\t")[12] for line in table[1:]} - {""})
    rnd = random.Random(17)
    coverage = ["\t".join(["gene", "transcript", "bases", "bases_20x", "pct_20x"])]
    for n, gene in enumerate(genes):
        bases = rnd.randint(300, 12_000)
        covered = bases if rnd.random() < 0.9 else int(bases * rnd.uniform(0.7, 1))
        coverage.append(f"{gene}\tENST{n:011d}\t{bases}\t{covered}\t{100 * covered / bases:.2f}")
    load_gene_coverage(job=job, lines=coverage)
    if panel_version is None:
        panel_version = panel_create(membership=member, name="Bench panel",
                                     genes=" ".join(rnd.sample(genes, PANEL_GENES)))
    return job, panel_version, load_seconds



def measure(requests: dict, repeat: int, warm: int = 3) -> dict:
    """`requests`: name -> (client, url, headers, before). Rounds of one request per case."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = {name: [] for name in requests}
    for n in range(warm + repeat):
        for name, (client, url, headers, before) in requests.items():
            if before:
                before()
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            elapsed = (time.perf_counter() - started) * 1000
            response.close()
            assert response.status_code == 200, (name, url, response.status_code, body[:500])
            if n >= warm:
                timings[name].append(elapsed)
    results = {}
    for name, (client, url, headers, before) in requests.items():
        if before:
            before()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, headers=headers)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            response.close()
        text = body.decode(errors="replace")
        shown = text.count('data-variant="')
        if url.startswith("/labs/"):
            assert shown, (name, url, text[:2000])
            assert ("<html" in text) != ("HX-Request" in headers), (name, "htmx partial?")
        times = timings[name]
        results[name] = {"url": url, "htmx": "HX-Request" in headers,
                         "p50_ms": round(statistics.median(times), 1),
                         "p95_ms": round(p95(times), 1), "max_ms": round(max(times), 1),
                         "queries": len(queries), "rows_shown": shown, "bytes": len(body)}
    base = results[BASELINE]["p50_ms"]
    for figures in results.values():
        figures["p50_vs_baseline"] = round(figures["p50_ms"] / base, 2)
    return results


def print_table(size: int, results: dict, load_average: float) -> None:
    print(f"\n{size:,} variants (ratio: p50 / p50 of the {BASELINE[10:]}; load average "
          f"{load_average} on {os.cpu_count()} CPUs before the rounds)")
    print(f"{'case':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'ratio':>7} {'queries':>8}")
    for name, f in results.items():
        flag = "  OVER" if name in CASES and f["p95_ms"] > BUDGET_MS else ""
        print(f"{name:40} {f['p50_ms']:8.1f} {f['p95_ms']:8.1f} {f['max_ms']:8.1f} "
              f"{f['p50_vs_baseline']:7.2f} {f['queries']:8d}{flag}")


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ.setdefault("WES_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_databases, teardown_databases

    from tenants.services import lab_create, membership_add
    from tests.helpers import make_user

    # As served: DEBUG keeps every query's SQL, and the test environment's template
    # instrumentation (setup_test_environment) is left out; "localhost" is an allowed host.
    settings.DEBUG = False
    old_config = setup_databases(verbosity=0, interactive=False)
    results: dict = {"database": connection.vendor, "cache": settings.CACHES["default"]["BACKEND"],
                     "cpus": os.cpu_count(), "repeat": args.repeat, "budget_p95_ms": BUDGET_MS,
                     "baseline": "GET /accounts/login/ signed out (sign-in page)", "sizes": {}}
    failures = []
    try:
        lab = lab_create(slug="bench", name="Bench lab")
        member = membership_add(lab=lab, user=make_user("manager@bench.test"), role="manager")
        manager, anonymous = Client(SERVER_NAME="localhost"), Client(SERVER_NAME="localhost")
        manager.force_login(member.user)
        panel = None
        for n, size in enumerate(sorted({args.small, args.rows})):
            progress(f"loading {size:,} variants")
            job, panel, load_seconds = seed(member, f"B{n}", size, panel)
            summary_key = f"variants:summary:v2:{job.pk}"
            requests = {
                BASELINE: (anonymous, "/accounts/login/", {}, None),
                "floor: static file (WhiteNoise)": (anonymous, "/static/vendor/htmx.min.js", {},
                                                    None),
            }
            for name, query in CASES.items():
                url = f"/labs/{lab.slug}/jobs/{job.pk}/variants/"
                if query:
                    url += "?" + query.format(panel=panel.pk)
                requests[name] = (manager, url, {"HX-Request": "true"} if name in HTMX else {},
                                  (lambda key=summary_key: cache.delete(key))
                                  if name in UNCACHED else None)
            progress(f"timing {len(requests)} cases x {args.repeat} rounds on {size:,} variants")
            load_average = round(os.getloadavg()[0], 2)
            figures = measure(requests, args.repeat)
            results["sizes"][str(size)] = {"load_seconds": round(load_seconds, 2),
                                           "load_average_before": load_average,
                                           "panel_genes": len(panel.genes), "cases": figures}
            print_table(size, figures, load_average)
        small, large = (str(s) for s in sorted({args.small, args.rows}))
        for name in CASES:
            for size in (small, large):
                figures = results["sizes"][size]["cases"][name]
                if figures["p95_ms"] > BUDGET_MS:
                    failures.append(f"{name}: p95 {figures['p95_ms']} ms on {int(size):,} "
                                    f"variants, over {BUDGET_MS} ms")
            counts = [results["sizes"][size]["cases"][name]["queries"] for size in (small, large)]
            if counts[1] > counts[0]:
                failures.append(f"{name}: {counts[0]} queries on {int(small):,} variants, "
                                f"{counts[1]} on {int(large):,}")
    finally:
        teardown_databases(old_config, verbosity=0)
    return finish(results, "variants.json", failures,
                  f"every viewer case under {BUDGET_MS} ms at p95 on {args.rows:,} variants; "
                  "query counts do not grow with the table")


if __name__ == "__main__":
    main()
