"""The sample list at a lab's scale: one page at a time (size and number in the URL), the total
shown, sorted and searched in the database, with the same queries whatever the lab holds."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Sample
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


def seed(member, n, start=0):
    now = timezone.now()
    Sample.objects.bulk_create(
        Sample(lab=member.lab, name=f"S{i:04d}", external_id=f"PSN-{i:04d}",
               created_by=member.user, consent_confirmed_at=now,
               created_at=now - timedelta(minutes=i)) for i in range(start, start + n))


def names(response) -> list[str]:
    assert response.status_code == 200, response.content.decode()[:2000]
    return re.findall(r'samples/[0-9a-f-]+/">(S\d{4})</a>', response.content.decode())


def test_it_shows_one_page_with_the_total(client_for, clinician):
    seed(clinician, 130)
    client = client_for(clinician)
    first = client.get("/labs/lab-a/samples/")
    assert names(first) == [f"S{i:04d}" for i in range(50)]          # newest first
    html = first.content.decode()
    assert 'data-list-total="130"' in html and "Page 1 of 3" in html
    assert names(client.get("/labs/lab-a/samples/?page=3")) == [f"S{i:04d}" for i in range(100, 130)]
    assert names(client.get("/labs/lab-a/samples/?page=99")) == names(
        client.get("/labs/lab-a/samples/?page=3")), "past the end: the last page"
    assert names(client.get("/labs/lab-a/samples/?page=x")) == names(first)
    assert len(names(client.get("/labs/lab-a/samples/?per_page=200"))) == 130
    assert len(names(client.get("/labs/lab-a/samples/?per_page=100000"))) == 50, \
        "a page size that is not offered is the default"
    assert names(client.get("/labs/lab-a/samples/?sort=created&per_page=25"))[:2] == [
        "S0129", "S0128"]
    assert names(client.get("/labs/lab-a/samples/?sort=-name&per_page=25"))[0] == "S0129"
    found = client.get("/labs/lab-a/samples/?q=psn-012")
    assert names(found) == [f"S{i:04d}" for i in range(120, 130)]
    event = AuditEvent.objects.filter(action=audit_actions.SAMPLE_LIST_VIEWED).last()
    assert event.details == {"count": 10, "total": 10, "page": 1, "search": "psn-012",
                             "sort": "-created"}


def test_the_queries_do_not_grow_with_the_lab(client_for, clinician):
    client = client_for(clinician)
    counts = []
    for n in (5, 300):
        seed(clinician, n, start=len(counts) * 1000)
        client.get("/labs/lab-a/samples/")
        with CaptureQueriesContext(connection) as queries:
            assert len(names(client.get("/labs/lab-a/samples/"))) == min(50, Sample.objects.count())
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_reads_are_shown_only_for_a_verified_r1(client_for, clinician):
    # A truncated R1 is read up to the break (14,796 reads of 29,656) and rejected: the list
    # showed that partial count as if it were the file's; the sample page shows "–".
    from jobs.models import SampleFile

    seed(clinician, 2)
    for sample, status in zip(Sample.objects.order_by("name"), ("rejected", "verified")):
        SampleFile.objects.create(lab=sample.lab, sample=sample, read=1, status=status,
                                  original_name="x_R1.fastq.gz", size=10, key=f"k/{sample.pk}",
                                  read_count=14796 if status == "rejected" else 29656)
    html = client_for(clinician).get("/labs/lab-a/samples/").content.decode()
    rows = dict(re.findall(r'">(S\d{4})</a>.*?<td>([\d,–]+)</td>\s*<td>\d{4}-', html, re.S))
    assert rows == {"S0000": "–", "S0001": "29,656"}, rows
