"""gunicorn settings for the portal: `gunicorn -c deploy/gunicorn.conf.py portal.wsgi`.

With PROMETHEUS_MULTIPROC_DIR set (docs/operations.md, "Metrics and alerts") every worker keeps
its request and S3-error counters in a file there; when a worker exits, prometheus_client is told,
so that figures only a live process may report (live gauges) are dropped with it. Counters of the
dead worker stay counted, as they must.
"""

import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
