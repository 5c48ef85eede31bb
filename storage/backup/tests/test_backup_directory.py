"""`manage.py backup` to a directory against the real S3 server and PostgreSQL: what a set holds,
the cross-check's refusals, and the restore's refusals (a full restore is in
portal/tests/test_backup_restore.py)."""

import hashlib
import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections

from storage import ledger, s3
from storage.backup.manifest import objects_of, read_manifest
from storage.buckets import bucket_name

pytestmark = pytest.mark.django_db(transaction=True)
# scripts/test falls back to SQLite when no PostgreSQL answers; a backup needs pg_dump.
postgresql_only = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="backup and restore need PostgreSQL (pg_dump, pg_restore)")


def _backup(target, *extra) -> str:
    out = io.StringIO()
    call_command("backup", str(target), *extra, stdout=out)
    return out.getvalue()


@postgresql_only
def test_a_set_holds_the_dump_every_version_and_a_manifest(provisioned_s3, tmp_path):
    results = bucket_name("results")
    s3.put_bytes(results, "lab/job/a.txt", b"first", content_type="text/plain")
    s3.put_bytes(results, "lab/job/a.txt", b"second", content_type="text/plain")
    s3.put_bytes(bucket_name("intermediate"), "lab/job/bam/x.bam", b"bam",
                 content_type="application/octet-stream")
    ledger.record_put(bucket=results, key="lab/job/a.txt", size=6,
                      sha256=hashlib.sha256(b"second").hexdigest())

    text = _backup(tmp_path)
    assert "3 version(s)" in text and "1 live object(s) and 1 recorded SHA-256(s) match" in text
    (set_dir,) = tmp_path.iterdir()
    manifest = read_manifest(set_dir)
    assert manifest["versions"] == 3 and manifest["cross_check"]["ok"]
    assert (set_dir / "database.dump").read_bytes()[:5] == b"PGDMP"
    entries = list(objects_of(set_dir))
    a = sorted((e for e in entries if e["key"] == "lab/job/a.txt"), key=lambda e: e["position"])
    assert [e["sha256"] for e in a] == [hashlib.sha256(b).hexdigest() for b in (b"first", b"second")]
    assert all(e["version_id"] for e in a) and a[0]["sse"] == "AES256"
    for entry in entries:
        blob = set_dir / "blobs" / entry["sha256"][:2] / entry["sha256"]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == entry["sha256"]
    listed = io.StringIO()
    call_command("backup", str(tmp_path), "--list", stdout=listed)
    assert f"{set_dir.name}  complete" in listed.getvalue()


@postgresql_only
def test_the_list_of_versions_is_in_key_order_whatever_order_the_server_lists(provisioned_s3,
                                                                               tmp_path):
    # SeaweedFS lists an unversioned bucket folder by folder: lab/job/x before lab/job-x.
    intermediate, results = bucket_name("intermediate"), bucket_name("results")
    for key in ("lab/job/x.bam", "lab/job-x.bam", "lab!.txt", "lab-a/y.bam"):
        s3.put_bytes(intermediate, key, key.encode(), content_type="application/octet-stream")
        s3.put_bytes(results, key, key.encode(), content_type="text/plain")
        ledger.record_put(bucket=intermediate, key=key, size=len(key),
                          sha256=hashlib.sha256(key.encode()).hexdigest())

    assert "4 live object(s) and 4 recorded SHA-256(s) match" in _backup(tmp_path)
    (set_dir,) = tmp_path.iterdir()
    listed = [(e["bucket"], e["key"]) for e in objects_of(set_dir)]
    assert listed == sorted(listed) and len(listed) == 8


def test_a_versioned_bucket_listed_over_many_pages_loses_no_key(provisioned_s3, tmp_path,
                                                                   monkeypatch):
    """SeaweedFS's paged version listing leaves out keys that sort before a folder of the same
    stem (lab/job-x, lab/job.y beside lab/job/): the object listing still shows them, and they
    are listed by name."""
    from storage.backup import objects
    from storage.buckets import bucket

    monkeypatch.setattr(objects, "VERSIONS_PAGE", 2)
    rule = bucket("results")
    keys = ["a", "lab!", "lab-a/x", "lab/a", "lab/job-x", "lab/job.y", "lab/job/x",
            "lab/job/z/w", "lab/jobx", "lab0", "z"]
    for key in keys:
        for body in (b"first", b"second"):
            s3.put_bytes(rule.name, key, body, content_type="text/plain")
    listed = [[(e["key"], e["position"]) for e in versions]
              for versions in objects.listed_keys(rule, tmp_path)]
    assert listed == [[(key, 0), (key, 1)] for key in sorted(keys)]


@postgresql_only
def test_a_set_that_lacks_what_the_database_records_fails(provisioned_s3, tmp_path):
    results = bucket_name("results")
    s3.put_bytes(results, "lab/job/changed.txt", b"other bytes", content_type="text/plain")
    ledger.record_put(bucket=results, key="lab/job/changed.txt", size=5, sha256="a" * 64)
    ledger.record_put(bucket=results, key="lab/job/gone.txt", size=5, sha256="b" * 64)
    ledger.record_put(bucket=bucket_name("raw"), key="lab/job/uploading_R1.fastq.gz", size=5)

    with pytest.raises(CommandError) as failed:
        _backup(tmp_path, "--keep", "1")
    message = str(failed.value)
    assert "INCOMPLETE" in message
    assert f"not stored: {results}/lab/job/gone.txt" in message
    assert f"another SHA-256 than the database records: {results}/lab/job/changed.txt" in message
    assert "uploading_R1" not in message, "an upload in progress is not a failure"
    (set_dir,) = tmp_path.iterdir()
    assert json.loads((set_dir / "manifest.json").read_text())["cross_check"]["ok"] is False


@postgresql_only
def test_restore_refuses_a_database_that_is_not_empty(provisioned_s3, tmp_path):
    _backup(tmp_path)
    with pytest.raises(CommandError, match="already has tables"):
        call_command("restore", str(tmp_path), stdout=io.StringIO())


@postgresql_only
def test_restore_refuses_a_damaged_set(provisioned_s3, tmp_path):
    _backup(tmp_path)
    (set_dir,) = tmp_path.iterdir()
    with open(set_dir / "database.dump", "ab") as dump:
        dump.write(b"\0")
    with pytest.raises(CommandError, match="database.dump does not have the SHA-256"):
        call_command("restore", str(tmp_path), "--set", set_dir.name, stdout=io.StringIO())
    with open(set_dir / "database.dump", "r+b") as dump:
        dump.truncate(dump.seek(0, 2) - 1)
    with open(set_dir / "objects.jsonl", "a") as listed:
        listed.write('{"bucket": "x", "key": "y"}\n')
    with pytest.raises(CommandError, match="objects.jsonl does not have the SHA-256"):
        call_command("restore", str(tmp_path), "--set", set_dir.name, stdout=io.StringIO())
    with pytest.raises(CommandError, match="not a backup set"):
        call_command("restore", str(tmp_path), "--set", "../x", stdout=io.StringIO())


def test_sqlite_is_refused_with_what_to_do_instead(monkeypatch, tmp_path):
    monkeypatch.setattr(type(connections["default"]), "vendor", "sqlite")
    with pytest.raises(CommandError, match="need PostgreSQL.*sqlite3"):
        _backup(tmp_path)


def test_the_scheduled_backup_follows_its_settings(settings):
    from django_q.models import Schedule

    from storage.backup.schedule import TASK, scheduled_backup

    Schedule.objects.filter(func=TASK).delete()     # the migration's, as a fresh install has it
    call_command("backup", "--schedule", stdout=io.StringIO())
    schedule = Schedule.objects.get(func=TASK)
    assert schedule.schedule_type == Schedule.CRON and schedule.cron == settings.BACKUP_SCHEDULE
    settings.BACKUP_SCHEDULE = "15 3 * * 6"
    out = io.StringIO()
    call_command("backup", "--schedule", stdout=out)
    assert "'15 3 * * 6' (set)" in out.getvalue()
    schedule.refresh_from_db()
    assert schedule.cron == "15 3 * * 6" and schedule.next_run.weekday() == 5
    settings.BACKUP_TARGET = ""
    assert scheduled_backup().startswith("skipped")


@postgresql_only
def test_the_scheduled_backup_prunes_to_its_keep(provisioned_s3, tmp_path, settings):
    from storage.backup.schedule import scheduled_backup
    from storage.backup.target import Target

    settings.BACKUP_TARGET, settings.BACKUP_KEEP = str(tmp_path), 1
    for name in ("wes-backup-20200101T000000Z", "wes-backup-20200102T000000Z"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
    assert "pruned 2" in scheduled_backup()
    ((name, complete),) = Target.parse(str(tmp_path)).sets()
    assert complete and name > "wes-backup-2020"
