"""Upgrading a database with data in it: usage metering and reconciliation moved from the storage
app to jobs (jobs/migrations/0007-0008, storage/migrations/0004). Every row, every permission
granted on the moved models and every schedule must come through."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_q.models import Schedule

from jobs.models import JobUsage, LabUsageSnapshot, ReconciliationRun
from tests.helpers import make_user

BEFORE_THE_MOVE = [("jobs", "0006_schedule_archiving"), ("wes_storage", "0003_schedule_reconciliation")]
MOVED = ("jobusage", "labusagesnapshot", "reconciliationrun")


def migrate(targets=None):
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return executor.loader.project_state(targets).apps if targets else None


def seed_the_old_schema(old):
    """What a lab's database held before the move, written through the old models."""
    now = timezone.now()
    user = old.get_model("auth", "User").objects.create(username="u", email="u@lab.test")
    lab = old.get_model("tenants", "Lab").objects.create(slug="lab-x", name="Lab X")
    sample = old.get_model("jobs", "Sample").objects.create(
        lab=lab, name="S1", external_id="P1", sex="female", clinical_indication="x",
        consent_confirmed_at=now, created_by=user, status="submitted")
    job = old.get_model("jobs", "Job").objects.create(
        id=uuid.uuid4(), lab=lab, sample=sample, submitted_by=user, status="succeeded")
    old.get_model("wes_storage", "JobUsage").objects.create(
        job=job, lab=lab, cpu_seconds=7200.5, realtime_seconds=3600, tasks=12)
    run = old.get_model("wes_storage", "ReconciliationRun").objects.create(
        status="differences", trigger="schedule", objects_listed=40, unrecorded_count=2,
        finished_at=now + timedelta(seconds=3))
    old.get_model("wes_storage", "LabUsageSnapshot").objects.create(
        run=run, lab=lab, bucket="wes-results", bucket_role="results", status="differences",
        object_count=40, unrecorded_count=2, unrecorded_sample=[{"key": "k", "size": 1}])
    old.get_model("django_q", "Schedule").objects.update_or_create(
        func="storage.tasks.reconcile_storage", defaults={"schedule_type": "D"})
    return job.pk, run.pk


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_keeps_every_row_grant_and_schedule():
    # Content types as an old installation has them: the moved models under wes_storage, a group
    # of operations staff granted "view reconciliation run" there.
    ContentType.objects.filter(app_label="jobs", model__in=MOVED).delete()
    old_type = ContentType.objects.create(app_label="wes_storage", model="reconciliationrun")
    operations = Group.objects.create(name="operations")
    operations.permissions.add(Permission.objects.create(
        content_type=old_type, codename="view_reconciliationrun",
        name="Can view reconciliation run"))
    staff = make_user("ops@portal.test", is_staff=True)
    staff.groups.add(operations)

    try:
        job_id, run_id = seed_the_old_schema(migrate(BEFORE_THE_MOVE))
    finally:
        migrate()   # the next tests on this database need today's schema, whatever happened

    usage = JobUsage.objects.get(job_id=job_id)
    assert (usage.cpu_seconds, usage.realtime_seconds, usage.tasks) == (7200.5, 3600, 12)
    run = ReconciliationRun.objects.get(pk=run_id)
    assert (run.status, run.objects_listed, run.differences) == ("differences", 40, 2)
    (snapshot,) = LabUsageSnapshot.objects.filter(run=run)
    assert (snapshot.lab.slug, snapshot.unrecorded_sample) == ("lab-x", [{"key": "k", "size": 1}])
    tables = set(connection.introspection.table_names())
    assert {"jobs_jobusage", "jobs_labusagesnapshot", "jobs_reconciliationrun"} <= tables
    assert not tables & {f"wes_storage_{model}" for model in MOVED}

    staff = type(staff).objects.get(pk=staff.pk)   # a fresh permission cache
    assert staff.has_perm("jobs.view_reconciliationrun")
    assert not ContentType.objects.filter(app_label="wes_storage", model__in=MOVED).exists()
    assert Schedule.objects.filter(func="jobs.tasks.reconcile_storage").exists()
    assert not Schedule.objects.filter(func="storage.tasks.reconcile_storage").exists()
