"""The scrub's django-q2 schedule follows WES_SCRUB_SCHEDULE: written (or removed, for "off")
after every `manage.py migrate`, so changing the setting and migrating, as every upgrade does,
is all an operator does."""

from __future__ import annotations

from django.conf import settings

SCRUB_TASK = "storage.scrub.scrub_scheduled"


def scrub_schedule_sync(**kwargs) -> None:
    from django_q.models import Schedule

    using = kwargs.get("using", "default")
    if settings.SCRUB_SCHEDULE.lower() == "off":
        Schedule.objects.using(using).filter(func=SCRUB_TASK).delete()
        return
    Schedule.objects.using(using).update_or_create(func=SCRUB_TASK, defaults={
        "name": "Storage scrub: re-read objects, compare size and SHA-256 with the records",
        "schedule_type": Schedule.CRON, "cron": settings.SCRUB_SCHEDULE, "repeats": -1})
