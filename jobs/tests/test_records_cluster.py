"""WES_RECORDS_CLUSTER: the records tasks run only on the django-q2 cluster whose process holds the
records storage key; picked up anywhere else, they are handed on to it (jobs/tasks.py)."""

import pytest
from django.test import override_settings
from django_q.conf import Conf

from jobs import tasks
from jobs.records.tests.test_archiving import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks, "enqueue", lambda task, *args, **kw: calls.append((task, args, kw)))
    return calls


@override_settings(WES_RECORDS_CLUSTER="wes-records")
def test_records_tasks_on_the_general_cluster_are_handed_to_the_records_cluster(queued):
    assert Conf.CLUSTER_NAME != "wes-records"
    assert tasks.purge_archives() == {"passed_to": "wes-records"}
    assert tasks.reconcile_storage("admin") == {"passed_to": "wes-records"}
    assert tasks.archive_job("0b5c3e0e-0000-4000-8000-000000000000") == \
        "passed to the wes-records cluster"
    assert queued == [("jobs.tasks.purge_archives", (), {"cluster": "wes-records"}),
                      ("jobs.tasks.reconcile_storage", ("admin",), {"cluster": "wes-records"}),
                      ("jobs.tasks.archive_job", ("0b5c3e0e-0000-4000-8000-000000000000",),
                       {"cluster": "wes-records"})]


@override_settings(WES_RECORDS_CLUSTER="wes-records")
def test_the_records_cluster_runs_them_and_the_daily_pass_queues_jobs_there(
        queued, monkeypatch, provisioned_s3, lab_a):
    job = make_job(lab_a, report=False)
    assert tasks.archive_jobs() == {"queued": 1, "held": 0}    # due jobs are found anywhere
    assert queued == [("jobs.tasks.archive_job", (str(job.pk),), {"cluster": "wes-records"})]
    monkeypatch.setattr(Conf, "CLUSTER_NAME", "wes-records")
    assert tasks.purge_archives() == {"purged": 0, "held": 0, "failed": {}}
    assert tasks.archive_job(str(job.pk)) == "archived"


def test_without_a_records_cluster_every_cluster_runs_them(queued):
    assert tasks.purge_archives() == {"purged": 0, "held": 0, "failed": {}}
    assert queued == []


@override_settings(WES_RECORDS_CLUSTER="wes-records")
def test_a_handed_on_task_lands_in_the_records_clusters_queue(django_capture_on_commit_callbacks):
    from django_q.brokers import get_broker

    if Conf.ORM is None:
        pytest.skip("the queue is Redis here; the ORM broker shows its queue in a table")
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        tasks.purge_archives()
    assert OrmQ.objects.filter(key="wes-records").count() == 1
    assert get_broker("wes-records").queue_size() == 1


def test_the_records_cluster_starts_under_its_own_name():
    import os
    import subprocess
    import sys

    code = ("import django; django.setup(); from django_q.conf import Conf; "
            "print(Conf.CLUSTER_NAME, Conf.PREFIX)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "DJANGO_DEBUG": "true",
           "WES_RECORDS_CLUSTER": "wes-records", "Q_CLUSTER_NAME": "wes-records",
           "WES_QUEUE_NAME": "wes"}
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert answer.stdout.split() == ["wes-records", "wes"], answer.stderr
