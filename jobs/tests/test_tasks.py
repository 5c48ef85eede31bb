"""The jobs app's task entry points (jobs/tasks.py) and the schedules that name them."""

import importlib

import pytest
from django.apps import apps
from django_q.models import Schedule

from jobs import tasks
from jobs.models import Job
from jobs.records.tests.test_archiving import make_job

pytestmark = pytest.mark.django_db


def run_migration_step(module: str, function: str) -> None:
    getattr(importlib.import_module(module), function)(apps, None)


def test_the_scheduled_pass_queues_one_task_per_due_job(provisioned_s3, lab_a, sync_tasks,
                                                         django_capture_on_commit_callbacks):
    # Transactional tests flush the tables, migration data included: run the migrations' steps.
    run_migration_step("jobs.migrations.0006_schedule_archiving", "schedule")
    run_migration_step("jobs.migrations.0008_records_tables", "follow_the_models")
    assert set(Schedule.objects.values_list("func", flat=True)) >= {
        "jobs.tasks.archive_jobs", "jobs.tasks.purge_archives"}
    job = make_job(lab_a, report=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.archive_jobs() == {"queued": 1, "held": 0}
    assert Job.objects.get(pk=job.pk).status == "archived"
    assert tasks.purge_archives() == {"purged": 0, "held": 0, "failed": {}}


def test_a_failed_reconciliation_is_raised_for_the_queue_to_list(storage_down, db):
    with pytest.raises(RuntimeError, match="cannot reach the S3 server"):
        tasks.reconcile_storage()


def test_reconciliation_is_scheduled_every_night(db):
    run_migration_step("storage.migrations.0003_schedule_reconciliation",
                       "schedule_reconciliation")
    run_migration_step("jobs.migrations.0008_records_tables", "follow_the_models")
    schedule = Schedule.objects.get(func="jobs.tasks.reconcile_storage")
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.DAILY, -1)
    assert (schedule.next_run.hour, schedule.next_run.minute) == (2, 30)
    assert not Schedule.objects.filter(func__startswith="storage.tasks.").exists()


def test_every_scheduled_task_names_an_entry_point_that_exists(db):
    for module, function in [("jobs.migrations.0002_schedule_intake_sweep", "schedule_sweep"),
                             ("jobs.migrations.0004_schedule_job_reaper", "schedule"),
                             ("jobs.migrations.0006_schedule_archiving", "schedule"),
                             ("storage.migrations.0003_schedule_reconciliation",
                              "schedule_reconciliation"),
                             ("jobs.migrations.0008_records_tables", "follow_the_models")]:
        run_migration_step(module, function)
    funcs = set(Schedule.objects.values_list("func", flat=True))
    assert {"jobs.tasks.sweep_intake", "jobs.tasks.reap_jobs", "jobs.tasks.archive_jobs",
            "jobs.tasks.purge_archives", "jobs.tasks.reconcile_storage"} <= funcs
    assert Schedule.objects.count() == len(funcs), "one schedule per task"
    for func in funcs:
        module, name = func.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), func
