"""`/metrics` for Prometheus: who may scrape it, the request counter, and the figures read from the
database at scrape time. docs/operations.md ("Metrics and alerts") lists every metric.

The portal runs as several processes (gunicorn workers, qcluster workers, on several machines), so
whatever describes shared state (jobs, the queue, counts recorded in `storage.metric_records`,
the last audit-chain and drift checks) is read from the database when scraped: every process
answers the same. Only requests and S3 errors are counted per process (common/metrics.py), summed
over the machine's processes in prometheus_client's multiprocess mode.

A scrape costs a fixed number of indexed queries, however many jobs or events there are
(portal/tests/test_metrics.py counts them).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import time
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from common.client_ip import client_ip
from common.metrics import HTTP_LATENCY, HTTP_REQUESTS, RECORDED

log = logging.getLogger(__name__)

CHECKS = ("audit_chain", "storage_drift")   # always shown, with "never ran" until they do


def may_scrape(request) -> bool:
    """A request from WES_METRICS_ALLOWED_IPS (the client address as common/client_ip.py reads it)
    or one that sends `Authorization: Bearer <WES_METRICS_TOKEN>`."""
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(
            given.removeprefix("Bearer ").strip().encode(), token.encode()):
        return True
    address = client_ip(request)
    if not address or not settings.METRICS_ALLOWED_IPS:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in settings.METRICS_ALLOWED_IPS)


@never_cache
def metrics(request):
    """Anyone else gets the portal's ordinary 404, as for a page that does not exist: neither the
    endpoint nor what it would show is revealed."""
    if not may_scrape(request):
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(StateCollector())
    return registry


class _ThisProcess:
    """prometheus_client's default registry: this process's counters, CPU, memory and GC."""

    def collect(self):
        return REGISTRY.collect()


class RequestMetricsMiddleware:
    """Counts and times every request by its view's URL name (never the raw path, which holds
    ids: one series per URL pattern, not per sample). Outermost, so it times the whole stack."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.route or "unnamed") if match else "unresolved"
        method = request.method if request.method in KNOWN_METHODS else "other"
        HTTP_LATENCY.labels(view, method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        return response


KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class StateCollector:
    """The figures read from the database (and the broker) at each scrape. Each source is read on
    its own: one that fails is shown as `wes_metrics_source_up{source} 0`, the rest still are."""

    def collect(self):
        up = GaugeMetricFamily("wes_metrics_source_up", "1 when /metrics could read this source "
                               "at this scrape, 0 when it failed (the portal's log says why).",
                               labels=["source"])
        for name, source in SOURCES:
            try:
                families = list(source(timezone.now()))
            except Exception:  # a source that fails must not take the other figures with it
                log.warning("/metrics: reading %s failed", name, exc_info=True)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def jobs_families(now: datetime):
    from jobs.models import Job, JobStatus

    counts = dict(Job.objects.values_list("status").annotate(n=Count("id")).order_by())
    by_state = GaugeMetricFamily("wes_jobs", "Pipeline jobs by state.", labels=["state"])
    for state in JobStatus.values:
        by_state.add_metric([state], counts.get(state, 0))
    yield by_state
    waiting = Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).aggregate(
        oldest=Min("queued_at", filter=Q(status=JobStatus.QUEUED)),
        stale=Count("id", filter=Q(status=JobStatus.RUNNING, lease_expires_at__lt=now)))
    yield GaugeMetricFamily(
        "wes_jobs_oldest_queued_age_seconds", "How long the oldest queued job has waited for a "
        "worker (0 when none waits).", value=_age(now, waiting["oldest"]))
    yield GaugeMetricFamily(
        "wes_jobs_stale_leases", "Jobs still running whose worker stopped renewing the lease (a "
        "dead worker; the reaper queues them again).", value=waiting["stale"])


def queue_families(now: datetime):
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.status import Stat

    broker_name = "redis" if "redis" in settings.Q_CLUSTER else "orm"
    broker = get_broker()
    if broker_name == "orm":
        # Read the table itself: the ORM broker's own calls close the request's connection.
        from django_q.models import OrmQ

        tasks = OrmQ.objects.using(Conf.ORM).filter(key=broker.list_key).aggregate(
            waiting=Count("id", filter=Q(lock__lte=now)),
            oldest=Min("lock", filter=Q(lock__lte=now)),
            taken=Count("id", filter=Q(lock__gt=now)))
        depth, oldest, taken = tasks["waiting"], tasks["oldest"], tasks["taken"]
    else:
        depth, oldest, taken = broker.queue_size(), _oldest_redis_task(broker), None
    queue = GaugeMetricFamily("wes_queue_depth", "Tasks waiting in the django-q2 broker for a "
                              "worker.", labels=["broker"])
    queue.add_metric([broker_name], depth)
    yield queue
    yield GaugeMetricFamily("wes_queue_oldest_task_age_seconds", "How long the oldest waiting "
                            "task has waited (0 when none waits).", value=_age(now, oldest))
    if taken is not None:
        yield GaugeMetricFamily("wes_queue_tasks_taken", "Tasks a worker has taken and not "
                                "finished (ORM broker only).", value=taken)
    clusters = Stat.get_all(broker=broker)
    yield GaugeMetricFamily("wes_queue_clusters", "Worker clusters (`manage.py qcluster`) "
                            "alive now (each reports every few seconds).", value=len(clusters))
    yield GaugeMetricFamily("wes_queue_workers", "Worker processes of the clusters alive now.",
                            value=sum(len(getattr(stat, "workers", []) or []) for stat in clusters))


def _oldest_redis_task(broker):
    from django_q.signing import SignedPackage

    head = broker.connection.lindex(broker.list_key, 0)   # rpush to the tail, blpop the head
    if head is None:
        return None
    try:
        return SignedPackage.loads(head).get("started")
    except Exception:  # another cluster's signing key, or not a task: its age is unknown
        return None


def recorded_families(now: datetime):
    from storage.metric_records import flush_pending
    from storage.models import MetricCount

    flush_pending()   # what this process counted since its last request or task

    rows: dict[str, list[tuple[dict, float]]] = {}
    for name, labels, value in MetricCount.objects.values_list("name", "labels", "value"):
        rows.setdefault(name, []).append((json.loads(labels) if labels else {}, value))
    for key, declared in RECORDED.items():
        if declared.kind == "histogram":
            yield _histogram(declared, rows.get(f"{key}:bucket", []), rows.get(f"{key}:sum", []))
            continue
        family = CounterMetricFamily(declared.metric, declared.help, labels=declared.labels)
        # The known series start at 0, so that increase() sees their first count too.
        values = {series: 0.0 for series in declared.known}
        for labels, value in rows.get(key, []):
            values[tuple(labels[name] for name in declared.labels)] = value
        for series, value in sorted(values.items()):
            family.add_metric(list(series), value)
        yield family


def _histogram(declared, buckets, sums):
    family = HistogramMetricFamily(declared.metric, declared.help, labels=declared.labels)
    by_series: dict[tuple, list] = {}
    for labels, value in buckets:
        series = tuple(labels[name] for name in declared.labels)
        by_series.setdefault(series, []).append((labels["le"], value))
    total = {tuple(labels[name] for name in declared.labels): value for labels, value in sums}
    for series, series_buckets in sorted(by_series.items()):
        series_buckets.sort(key=lambda bucket: float(bucket[0]))
        family.add_metric(list(series), series_buckets, sum_value=total.get(series, 0))
    return family


def checks_families(now: datetime):
    from storage.models import CheckResult

    results = {r.kind: r for r in CheckResult.objects.all()}
    ok = GaugeMetricFamily("wes_check_ok", "1 when the latest run of the check found nothing "
                           "wrong, 0 when it found a problem (or never ran).", labels=["check"])
    problems = GaugeMetricFamily("wes_check_problems", "What the latest run of the check found: "
                                 "audit_chain, the breaks and checkpoint problems; storage_drift, "
                                 "the settings that differ from the configuration.",
                                 labels=["check"])
    when = GaugeMetricFamily("wes_check_timestamp_seconds", "When the check last ran (Unix "
                             "time; 0 if it never ran).", labels=["check"])
    for kind in sorted(set(CHECKS) | set(results)):
        result = results.get(kind)
        ok.add_metric([kind], int(bool(result and result.ok)))
        problems.add_metric([kind], result.problems if result else 0)
        when.add_metric([kind], result.checked_at.timestamp() if result else 0)
    yield from (ok, problems, when)


def scrub_families(now: datetime):
    """The storage scrub's open findings by kind and its last finished run, from the scrub's
    tables (`ScrubFinding`, `ScrubRun` in storage/models.py) when this installation has them:
    nothing until then. Open findings are few and read through their partial unique index; the
    last run through the `-started_at` index."""
    from django.apps import apps

    try:
        finding = apps.get_model("wes_storage", "ScrubFinding")
        run = apps.get_model("wes_storage", "ScrubRun")
    except LookupError:
        return
    open_by_kind = dict(finding.objects.filter(resolved_at__isnull=True)
                        .values_list("kind").annotate(n=Count("id")).order_by())
    findings = GaugeMetricFamily("wes_scrub_open_findings", "Objects the storage scrub found "
                                 "missing, changed or unreadable and not yet resolved, by kind.",
                                 labels=["kind"])
    kinds = [value for value, _ in finding._meta.get_field("kind").choices or []]
    for kind in sorted(set(kinds) | set(open_by_kind)):
        findings.add_metric([kind], open_by_kind.get(kind, 0))
    yield findings
    last = run.objects.filter(finished_at__isnull=False).order_by("-started_at").first()
    yield GaugeMetricFamily("wes_scrub_last_finished_timestamp_seconds", "When the last storage "
                            "scrub run ended (Unix time; 0 if none has).",
                            value=last.finished_at.timestamp() if last else 0)


def _age(now: datetime, moment) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment else 0.0


SOURCES = [("jobs", jobs_families), ("queue", queue_families),
           ("recorded", recorded_families), ("checks", checks_families),
           ("scrub", scrub_families)]
