"""Backup and restore end to end (issue 15): a stack with a signed report, a legal hold, audit
events and a checkpoint under Object Lock retention is backed up through rclone to a second S3
endpoint, destroyed (its S3 server stopped and its data removed), and restored into a fresh
PostgreSQL database and a fresh S3 server; then every object's SHA-256 matches the database,
`verify_audit` passes, and the signed report downloads with its stored digest.

It lives in portal/ (the composition root) because it sets up the whole stack: labs, jobs and
reports above storage, whose backup it exercises."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from jobs.models import Job, JobOutput, Report, Sample, SampleFile
from jobs.records.retention import job_hold_place
from storage.digests import recorded_digests
from jobs.reports import services as reports
from jobs.results.variant_table import load_variants
from storage import keys, ledger, provisioning, s3, versions
from storage.buckets import REGISTRY, bucket_name
from storage.models import StoredObject
from storage.seaweed import SeaweedServer
from tenants import audit_actions
from tenants.audit import SYSTEM
from tenants.models import AuditEvent
from tests.helpers import storages_for

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                                 reason="backup and restore need PostgreSQL (pg_dump, pg_restore)")]

PASSWORD = "correct-horse-battery-staple"
HEADER = ("variant_id\tsample\tchrom\tpos\tref\talt\tgenotype\tdepth\tallele_depth\tvaf\tqual\t"
          "filter\tgene\ttranscript\tconsequence\thgvs_p\thgvs_c\tprotein_change\tdna_change")
ROW = ("WES-0000000000000001\tBAK1\tchr1\t1000\tA\tG\t0/1\t40\t20,20\t0.5000\t99\tPASS\tGENE1\t"
       "T1\tmissense\tp.Gln10Pro\t\t10Q>10P\t1000A>G")


def _buckets() -> dict[str, str]:
    suffix = f"bk{os.getpid()}-{uuid.uuid4().hex[:6]}"
    return {rule.setting: f"{rule.role}-{suffix}" for rule in REGISTRY}


def _on(server: SeaweedServer, buckets: dict[str, str]):
    return override_settings(MINIO_ENDPOINT=server.endpoint, MINIO_PUBLIC_ENDPOINT=server.endpoint,
                             MINIO_SECURE=False, STORAGES=storages_for(server.endpoint, buckets),
                             **buckets)


@pytest.fixture
def two_servers(tmp_path, settings):
    """The original S3 server and the fresh one the stack is restored into."""
    servers = [SeaweedServer(tmp_path / name, settings.MINIO_ACCESS_KEY, settings.MINIO_SECRET_KEY)
               for name in ("original", "fresh")]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def fresh_database(settings):
    """An empty PostgreSQL database beside the test database, dropped afterwards."""
    db = connections["default"].settings_dict
    name = f"{db['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PGHOST": db["HOST"] or "127.0.0.1", "PGPORT": str(db["PORT"] or 5432),
           "PGUSER": db["USER"] or "postgres"}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    subprocess.run(["createdb", name], env=env, check=True)
    yield name
    connections["default"].close()
    subprocess.run(["dropdb", "--if-exists", "--force", name], env=env, check=True)


def _use_database(name: str) -> str:
    connection = connections["default"]
    connection.close()
    previous = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = name
    return previous


def _seed(clinician, manager, client_for) -> dict:
    """A lab's finished work: FASTQs, a job's outputs, a signed report, a legal hold, audit
    events and a checkpoint of the chain."""
    lab = clinician.lab
    sample = Sample.objects.create(lab=lab, name="BAK1", external_id="PSEUDO-0099", sex="female",
                                   clinical_indication="Suspected cardiomyopathy",
                                   hpo_terms=["HP:0001638"], consent_confirmed_at=timezone.now(),
                                   created_by=clinician.user, status="submitted")
    job = Job.objects.create(lab=lab, sample=sample, status="succeeded",
                             submitted_by=clinician.user, started_at=timezone.now(),
                             finished_at=timezone.now(), runner="local", attempts=1, qc={})
    raw = bucket_name("raw")
    for read in (1, 2):
        body = os.urandom(300_000 + read)
        key = keys.raw_fastq_key(lab, job.pk, sample.name, read)
        s3.put_bytes(raw, key, body, content_type="application/gzip")
        digest = hashlib.sha256(body).hexdigest()
        SampleFile.objects.create(lab=lab, sample=sample, read=read, original_name=f"r{read}.fq.gz",
                                  size=len(body), key=key, status="verified", sha256=digest)
        ledger.record_put(bucket=raw, key=key, size=len(body), lab=lab, job_id=job.pk)
    # An output written twice: the old version must come back too, under the new one.
    results = bucket_name("results")
    key = keys.job_output_key(lab, job.pk, "metadata.json")
    s3.put_bytes(results, key, b'{"draft": true}', content_type="application/json")
    body = json.dumps({"schema": "wes-portal/metadata/1", "sample": "BAK1"}).encode()
    s3.put_bytes(results, key, body, content_type="application/json")
    JobOutput.objects.create(lab=lab, job=job, path="metadata.json", bucket_role="results", key=key,
                             size=len(body), sha256=hashlib.sha256(body).hexdigest(),
                             verified_at=timezone.now())
    ledger.record_put(bucket=results, key=key, size=len(body), lab=lab, job_id=job.pk,
                      sha256=hashlib.sha256(body).hexdigest())
    # A file deleted (a delete marker in front of its version) and an unversioned intermediate.
    s3.put_bytes(results, keys.job_output_key(lab, job.pk, "withdrawn.txt"), b"withdrawn",
                 content_type="text/plain")
    s3.client().delete_object(Bucket=results, Key=keys.job_output_key(lab, job.pk, "withdrawn.txt"))
    s3.put_bytes(bucket_name("intermediate"), keys.job_output_key(lab, job.pk, "bam/BAK1.bam"),
                 b"BAM\1", content_type="application/octet-stream")
    load_variants(job=job, lines=[HEADER, ROW])
    report = reports.report_draft_create(job_id=job.pk)
    shown = Report.objects.get(pk=report.pk).draft_sha256
    answer = client_for(manager).post(f"/labs/lab-a/jobs/{job.pk}/report/{report.pk}/sign/",
                                      {"confirm": "on", "password": PASSWORD,
                                       "comment": "Agreed.", "draft_sha256": shown})
    assert answer.status_code == 302, answer.content.decode()[:500]
    job_hold_place(actor=SYSTEM, job=job, reason="Litigation hold, case 7")
    call_command("verify_audit", stdout=io.StringIO())      # writes a checkpoint under retention
    report.refresh_from_db()
    assert report.status == "signed_out" and report.signed_key
    return {"job": job, "report": report}


def _stored_sha256(bucket: str, key: str) -> str:
    body = s3.open_object(bucket, key)
    try:
        return hashlib.sha256(body.read()).hexdigest()
    finally:
        body.close()


def test_a_stack_backed_up_destroyed_and_restored_into_fresh_servers_is_whole(
        two_servers, fresh_database, clinician, manager, client_for, monkeypatch, capsys):
    original, fresh = two_servers
    buckets = _buckets()
    # The sets go to a third place: a bucket on the fresh server, reached by rclone as an S3
    # remote configured by environment variables alone.
    for variable, value in {"TYPE": "s3", "PROVIDER": "Other", "ENDPOINT": fresh.endpoint,
                            "ACCESS_KEY_ID": original.access_key,
                            "SECRET_ACCESS_KEY": original.secret_key,
                            "REGION": "us-east-1", "FORCE_PATH_STYLE": "true"}.items():
        monkeypatch.setenv(f"RCLONE_CONFIG_WESBACKUP_{variable}", value)
    target = f"wesbackup:backups-{uuid.uuid4().hex[:8]}/lab"

    with _on(original, buckets):
        provisioning.apply()
        seeded = _seed(clinician, manager, client_for)
        report = seeded["report"]
        held_versions = sum(1 for name in (bucket_name("raw"), bucket_name("results"))
                            for v in versions.list_versions(name, "")
                            if versions.legal_hold_on(name, v["Key"], v["VersionId"]))
        assert held_versions >= 4, "the FASTQs, both metadata versions and the PDFs are held"
        started = time.monotonic()
        out = io.StringIO()
        call_command("backup", target, "--keep", "2", stdout=out)
        backup_seconds = time.monotonic() - started
        assert "backup wesbackup:" in out.getvalue(), out.getvalue()
        (written,) = AuditEvent.objects.filter(action=audit_actions.BACKUP_WRITTEN)
        set_name = written.resource_id
        assert written.details["outcome"] == "finished" and written.details["via"] == "command"
        assert written.details["target"] == target and written.data_exported
        assert written.details["versions"] >= 6 and written.details["bytes"] > 600_000
        assert len(written.details["database_sha256"]) == 64
        assert written.details["cross_check"]["ok"] and written.lab_id is None
        original_ledger = sorted(StoredObject.objects.filter(deleted_at__isnull=True)
                                 .values_list("bucket", "key", "sha256"))

    # Destroy the original: its S3 server and every byte it stored.
    original.stop()
    shutil.rmtree(original.data_dir)
    source_database = _use_database(fresh_database)
    try:
        with _on(fresh, buckets):
            started = time.monotonic()
            out = io.StringIO()
            call_command("restore", target, stdout=out)
            restore_seconds = time.monotonic() - started
            text = out.getvalue()
            assert "restored wes-backup-" in text and "audit chain intact" in text, text
            assert "legal hold(s) re-applied" in text and " 0 legal hold(s)" not in text, text

            # 1. Every object the restored database records is stored, with its SHA-256.
            assert sorted(StoredObject.objects.filter(deleted_at__isnull=True)
                          .values_list("bucket", "key", "sha256")) == original_ledger
            digests = list(recorded_digests())
            assert len(digests) >= 5      # two FASTQs, an output, the draft and the signed PDF
            for bucket, key, sha256, what in digests:
                assert _stored_sha256(bucket, key) == sha256, what
            for bucket, key, sha256 in original_ledger:
                stored = _stored_sha256(bucket, key)
                assert not sha256 or stored == sha256, key
            # Old versions came back, in order, under the current one; holds and retention too.
            results = bucket_name("results")
            metadata_key = keys.job_output_key(report.lab, report.job_id, "metadata.json")
            kept = [v for v in versions.list_versions(results, metadata_key)]
            assert len(kept) == 2
            oldest = kept[-1]             # S3 lists a key's versions newest first
            assert versions.get_retained_version(results, metadata_key, oldest["VersionId"])[
                "body"] == b'{"draft": true}'
            assert all(versions.legal_hold_on(results, v["Key"], v["VersionId"]) for v in kept)
            withdrawn = keys.job_output_key(report.lab, report.job_id, "withdrawn.txt")
            assert s3.object_info(results, withdrawn) is None, "still deleted"
            assert versions.object_version_count(results, withdrawn) == 1, "its version kept"
            bam = keys.job_output_key(report.lab, report.job_id, "bam/BAK1.bam")
            assert s3.open_object(bucket_name("intermediate"), bam).read() == b"BAM\1"

            # 2. The restore is in the restored audit log, written after its check, and the
            # chain and its checkpoints (retention re-applied) still verify with it.
            (restored_event,) = AuditEvent.objects.filter(action=audit_actions.BACKUP_RESTORED)
            assert restored_event.resource_id == set_name
            assert restored_event.details["outcome"] == "finished"
            assert restored_event.details["database"] == fresh_database
            assert restored_event.details["buckets"]["results"] == bucket_name("results")
            assert restored_event.details["versions"] == written.details["versions"]
            assert not AuditEvent.objects.filter(action=audit_actions.BACKUP_WRITTEN).exists(), \
                "the backup's own event was written after its dump"
            check = io.StringIO()
            call_command("verify_audit", "--no-checkpoint", stdout=check)
            assert "audit chain intact" in check.getvalue()
            assert "1 checkpoint(s) hold" in check.getvalue(), check.getvalue()

            # 3. The clinician downloads the signed report; it is the one whose digest is stored.
            restored = Report.objects.get(pk=report.pk)
            assert restored.signed_sha256 == report.signed_sha256
            answer = client_for(clinician).post(
                f"/labs/lab-a/jobs/{report.job_id}/report/{report.pk}/signed.pdf",
                {"reason": "clinical_care"})
            assert answer.status_code == 302 and answer.url.startswith(fresh.endpoint)
            fetched = requests.get(answer.url, timeout=30)
            assert fetched.status_code == 200
            assert hashlib.sha256(fetched.content).hexdigest() == restored.signed_sha256

            # A second restore into the same (now full) stack is refused, clearly.
            with pytest.raises(Exception, match="already has tables|already hold objects"):
                call_command("restore", target, stdout=io.StringIO())
    finally:
        _use_database(source_database)
    with capsys.disabled():
        print(f"\nbackup {backup_seconds:.2f} s, restore {restore_seconds:.2f} s "
              f"(seeded stack, {len(original_ledger)} live objects)")


def _as_format_1(set_dir) -> None:
    """Rewrite a set as releases before the streamed manifest wrote it: objects.jsonl in the
    bucket registry's order, no record of the file in manifest.json."""
    lines = (set_dir / "objects.jsonl").read_text().splitlines(keepends=True)
    roles = [rule.role for rule in REGISTRY]
    lines.sort(key=lambda line: roles.index(json.loads(line)["role"]))   # stable: keys stay sorted
    (set_dir / "objects.jsonl").write_text("".join(lines))
    described = json.loads((set_dir / "manifest.json").read_text())
    del described["objects"]
    described["format"] = "wes-backup/1"
    (set_dir / "manifest.json").write_text(json.dumps(described))


def test_a_set_written_by_an_earlier_release_still_restores(two_servers, fresh_database,
                                                             tmp_path):
    original, fresh = two_servers
    buckets = _buckets()
    with _on(original, buckets):
        provisioning.apply()
        results, raw = bucket_name("results"), bucket_name("raw")
        for body in (b"first", b"second"):
            s3.put_bytes(results, "lab/job/metadata.json", body, content_type="application/json")
        s3.put_bytes(results, "lab/job/withdrawn.txt", b"w", content_type="text/plain")
        s3.client().delete_object(Bucket=results, Key="lab/job/withdrawn.txt")
        s3.put_bytes(raw, "lab/job/S_R1.fastq.gz", b"reads", content_type="application/gzip")
        s3.put_bytes(bucket_name("intermediate"), "lab/job/bam/S.bam", b"BAM",
                     content_type="application/octet-stream")
        ledger.record_put(bucket=results, key="lab/job/metadata.json", size=6,
                          sha256=hashlib.sha256(b"second").hexdigest())
        ledger.record_put(bucket=raw, key="lab/job/S_R1.fastq.gz", size=5,
                          sha256=hashlib.sha256(b"reads").hexdigest())
        call_command("backup", str(tmp_path / "sets"), stdout=io.StringIO())
    (set_dir,) = (tmp_path / "sets").iterdir()
    _as_format_1(set_dir)
    roles = [json.loads(line)["role"] for line in (set_dir / "objects.jsonl").open()]
    assert roles == sorted(roles, key=[rule.role for rule in REGISTRY].index)
    assert roles != sorted(roles, key=lambda role: bucket_name(role)), "not the new order"

    source_database = _use_database(fresh_database)
    try:
        with _on(fresh, buckets):
            out = io.StringIO()
            call_command("restore", str(tmp_path / "sets"), stdout=out)
            assert "restored wes-backup-" in out.getvalue() and "audit chain intact" in out.getvalue()
            kept = versions.list_versions(bucket_name("results"), "lab/job/metadata.json")
            assert [versions.get_retained_version(bucket_name("results"), v["Key"],
                                                  v["VersionId"])["body"] for v in kept] == \
                [b"second", b"first"]
            assert s3.object_info(bucket_name("results"), "lab/job/withdrawn.txt") is None
            assert s3.open_object(bucket_name("raw"), "lab/job/S_R1.fastq.gz").read() == b"reads"
            (event,) = AuditEvent.objects.filter(action=audit_actions.BACKUP_RESTORED)
            assert event.details["format"] == "wes-backup/1"
            assert event.details["outcome"] == "finished" and event.details["versions"] == 5
    finally:
        _use_database(source_database)


def test_a_format_1_set_with_lines_missing_is_refused(provisioned_s3, tmp_path):
    call_command("backup", str(tmp_path), stdout=io.StringIO())
    (set_dir,) = tmp_path.iterdir()
    _as_format_1(set_dir)
    described = json.loads((set_dir / "manifest.json").read_text())
    described["versions"] += 1
    (set_dir / "manifest.json").write_text(json.dumps(described))
    with pytest.raises(CommandError, match="objects.jsonl has 0 line\\(s\\), the manifest counts 1"):
        call_command("restore", str(tmp_path), stdout=io.StringIO())
