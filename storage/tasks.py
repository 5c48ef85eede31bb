"""django-q2 entry points of the storage core. Each is safe to run twice."""

from storage import provisioning


def check_storage_drift() -> str:
    """Daily: compare every bucket's settings with the configuration (`setup_storage --check`);
    the outcome is recorded for /metrics. Drift is reported, never fixed here: fixing is
    `setup_storage`, a deploy step someone runs on purpose."""
    report = provisioning.plan()
    if report.drift:
        return "drift: " + "; ".join(map(str, report.drift))
    return "no drift"
