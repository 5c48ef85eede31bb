"""The review queue at a lab's scale: oldest first, one page at a time with the total, and the
same queries whatever the number of reports waiting."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, Report, Sample

pytestmark = pytest.mark.django_db


def seed_pending(member, n, start=0):
    now = timezone.now()
    for i in range(start, start + n):
        sample = Sample.objects.create(lab=member.lab, name=f"Q{i:03d}", external_id=f"E{i:03d}",
                                       created_by=member.user, consent_confirmed_at=now,
                                       status="submitted")
        job = Job.objects.create(lab=member.lab, sample=sample, submitted_by=member.user,
                                 status="succeeded", finished_at=now)
        Report.objects.create(lab=member.lab, job=job, version=1,
                              created_at=now - timedelta(hours=1000 - i))


def shown(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r"<td>(Q\d{3})</td>", response.content.decode())


def test_the_queue_pages_oldest_first_with_the_total(client_for, manager):
    seed_pending(manager, 60)
    client = client_for(manager)
    first = client.get("/labs/lab-a/reviews/")
    assert shown(first) == [f"Q{i:03d}" for i in range(50)]
    assert 'data-list-total="60"' in first.content.decode()
    assert shown(client.get("/labs/lab-a/reviews/?page=2")) == [f"Q{i:03d}" for i in range(50, 60)]
    assert len(shown(client.get("/labs/lab-a/reviews/?per_page=100"))) == 60


def test_the_queue_makes_the_same_queries_for_2_or_70_reports(client_for, manager):
    client = client_for(manager)
    counts = []
    for n, start in ((2, 0), (68, 2)):
        seed_pending(manager, n, start)
        client.get("/labs/lab-a/reviews/")
        with CaptureQueriesContext(connection) as queries:
            client.get("/labs/lab-a/reviews/")
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
