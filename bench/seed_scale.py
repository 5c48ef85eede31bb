"""A portal's data at a lab's real scale, written fast: bulk inserts for the tables of thousands,
COPY for the audit log of a million, and `load_variants` (COPY) for the one large variant table.

Used by bench/pages.py on a throw-away database. Rows are built directly, not through the
services: a service writes one audit event per call and would take hours at this volume, and the
pages only read. The figures aim at what a lab sees after a year: samples received over 12
months, most analysed, a few hundred reports waiting for review, and an audit log whose events
name the lab's real samples and jobs (so a sample's history has rows).

The audit rows are NOT a valid hash chain: each `hash` is a unique SHA-256 and `prev_hash` is the
row before's, so the table looks chained, but no hash is computed from the row's values (that
costs ~20 s per million and the pages never check it). `verify_chain()` fails on this database;
bench/audit_verify.py measures the chain itself.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

BATCH = 5000
STEPS = ["FASTP_QC", "BWA_ALIGN", "MARK_DUPLICATES", "CALL_VARIANTS", "ANNOTATE",
         "GENE_COVERAGE", "QC_SUMMARY", "FINAL_TABLE"]
OUTPUTS = [("results", "{s}_Final_.txt", 4_000_000), ("results", "vcf/{s}.vcf.gz", 9_000_000),
           ("results", "vcf/{s}.vcf.gz.tbi", 300_000), ("results", "metadata.json", 2_000),
           ("results", "qc/{s}.qc.json", 1_200), ("intermediate", "bam/{s}.markdup.bam",
                                                  6_000_000_000)]
INDICATIONS = ["Developmental delay", "Epileptic encephalopathy", "Cardiomyopathy, familial",
               "Hearing loss, congenital", "Intellectual disability with seizures",
               "Retinal dystrophy", "Short stature", "Hypotonia, neonatal"]
HPO = ["HP:0001250", "HP:0001263", "HP:0000407", "HP:0004322", "HP:0001252", "HP:0000556"]
# Audit actions by share of a year's log, and what each names: "sample" and "job" events carry
# {"sample": ...} the way the services write them (the sample page's history reads that key).
ACTIONS = [  # (action, weight, resource kind, phi, exported)
    ("variants.viewed", 16, "job", True, False), ("sample.viewed", 14, "sample", True, False),
    ("job.viewed", 10, "job", True, False), ("sample.list_viewed", 9, "list", True, False),
    ("auth.login", 6, "none", False, False), ("report.viewed", 5, "report", True, False),
    ("report.queue_viewed", 4, "queue", True, False), ("upload.started", 3, "file", False, False),
    ("upload.completed", 3, "file", False, False), ("sample.created", 2, "sample", True, False),
    ("sample.verified", 2, "sample", False, False), ("sample.submitted", 2, "sample", False, False),
    ("job.started", 2, "job", False, False), ("job.succeeded", 2, "job", False, False),
    ("variant.classified", 3, "variant", True, False), ("variant.selected", 2, "variant", True,
                                                        False),
    ("output.downloaded", 3, "output", True, True), ("report.downloaded", 2, "report", True, True),
    ("report.drafted", 1, "report", True, False), ("report.signed_out", 1, "report", True, False),
    ("job.failed", 1, "job", False, False), ("auth.logout", 3, "none", False, False),
    ("auth.login_failed", 1, "anon", False, False), ("notification.sent", 2, "job", False, False),
    ("sample.admin_viewed", 1, "sample", True, False), ("job.admin_viewed", 1, "job", True, False),
]
AUDIT_COLUMNS = ("created_at", "actor_id", "actor_email", "lab_id", "action", "resource_type",
                 "resource_id", "details", "phi_accessed", "data_exported", "ip_address",
                 "user_agent", "request_id", "prev_hash", "hash")
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/140.0 Safari/537.36",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari",
          "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"]


@dataclass(frozen=True)
class Scale:
    labs: int
    big_lab_samples: int     # the lab the bench signs in to, the largest
    samples: int             # all labs together
    events: int
    variants: int            # rows of the one job the variant viewer opens
    pending_share: float = 0.07   # of succeeded jobs, reports waiting for review


@dataclass
class Seeded:
    lab: object              # the largest lab
    manager: object          # its manager (the lab pages' persona)
    staff: object            # superuser (the admin pages' persona)
    sample: object           # the sample whose page, job and variants are timed
    job: object
    counts: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def _status_of(rnd: random.Random, age_days: float) -> tuple[str, str | None]:
    """(sample status, job status or None): recent samples are still moving, old ones done."""
    if age_days < 3:
        return rnd.choice([("uploading", None), ("verifying", None), ("ready", None),
                           ("submitted", "queued"), ("submitted", "running")])
    r = rnd.random()
    if r < 0.015:
        return "rejected", None
    if r < 0.05:
        return "ready", None
    job = rnd.choices(["succeeded", "failed", "cancelled", "archived"], [88, 4, 2, 6])[0]
    if job == "archived" and age_days < 120:
        job = "succeeded"
    return "submitted", job


def seed(scale: Scale, *, seed: int = 12) -> Seeded:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from jobs.models import (Job, JobOutput, JobUsage, Report, Sample, SampleFile)
    from jobs.results.tests.test_variants import generated_table
    from jobs.results.variant_table import load_variants
    from storage import keys
    from storage.buckets import bucket_name
    from storage.models import StoredObject
    from tenants.models import Lab, Membership
    from tests.helpers import make_user

    rnd = random.Random(seed)
    now = timezone.now()
    year_ago = now - timedelta(days=365)
    User = get_user_model()
    seconds: dict = {}
    started = time.perf_counter()

    # Labs and people: the largest lab first, then the others, each with a manager and clinicians.
    labs = [Lab(slug="bench", name="Bench Genomics (largest)", created_at=year_ago)]
    labs += [Lab(slug=f"lab-{n:02d}", name=f"Lab {n:02d}", created_at=year_ago)
             for n in range(1, scale.labs)]
    Lab.objects.bulk_create(labs)
    unusable = make_password(None)
    people = {}      # lab id -> [(user, role)]
    users = []
    for lab in labs:
        for n in range(5):
            users.append(User(username=f"u{n}@{lab.slug}.test", email=f"u{n}@{lab.slug}.test",
                              password=unusable, first_name=f"User {n}"))
    User.objects.bulk_create(users, batch_size=BATCH)
    users = list(User.objects.filter(email__endswith=".test").order_by("id"))
    memberships = []
    for i, lab in enumerate(labs):
        mine = users[i * 5:(i + 1) * 5]
        people[lab.pk] = [(u, "manager" if n == 0 else "clinician") for n, u in enumerate(mine)]
        memberships += [Membership(lab=lab, user=u, role=role) for u, role in people[lab.pk]]
    manager = make_user("manager@bench.test")
    staff = make_user("staff@bench.test", is_staff=True, is_superuser=True)
    memberships.append(Membership(lab=labs[0], user=manager, role="manager"))
    # The manager also belongs to two other labs (the lab home counts them).
    memberships += [Membership(lab=lab, user=manager, role="clinician") for lab in labs[1:3]]
    Membership.objects.bulk_create(memberships)
    people[labs[0].pk].append((manager, "manager"))

    # Samples: the largest lab holds big_lab_samples, the rest share what is left.
    others = max(0, scale.samples - scale.big_lab_samples)
    rest = max(1, scale.labs - 1)
    per_lab = [scale.big_lab_samples] + [others // rest + (n < others % rest)
                                         for n in range(scale.labs - 1)]
    samples, files, jobs, reports, outputs, ledger, usages = [], [], [], [], [], [], []
    site = {}   # sample id -> (lab, job id or None): what audit events may name
    raw, results, intermediate = (bucket_name(r) for r in ("raw", "results", "intermediate"))
    for lab, count in zip(labs, per_lab):
        clinicians = [u for u, role in people[lab.pk] if role == "clinician"]
        reviewer = people[lab.pk][0][0]
        created = sorted(year_ago + timedelta(seconds=rnd.uniform(0, 365 * 86400))
                         for _ in range(count))
        for n, at in enumerate(created):
            age = (now - at).total_seconds() / 86400
            status, job_status = _status_of(rnd, age)
            name = f"{lab.slug[:6].upper()}-{n + 1:05d}"
            author = rnd.choice(clinicians)
            sample = Sample(lab=lab, name=name, external_id=f"PSN-{rnd.getrandbits(40):010x}",
                            sex=rnd.choice(["female", "male", "male", "female", "unknown"]),
                            clinical_indication=rnd.choice(INDICATIONS),
                            hpo_terms=rnd.sample(HPO, rnd.randint(0, 3)),
                            consent_confirmed_at=at, status=status, created_by=author,
                            created_at=at,
                            rejection_reason="R2 is truncated" if status == "rejected" else "")
            samples.append(sample)
            verified = status in ("ready", "submitted")
            for read in (1, 2):
                size = rnd.randint(2_000_000_000, 7_000_000_000)
                key = keys.raw_fastq_key(lab, sample.job_id, name, read)
                files.append(SampleFile(
                    lab=lab, sample=sample, read=read, original_name=f"{name}_R{read}.fastq.gz",
                    size=size, key=key, part_size=64 << 20,
                    status="verified" if verified else ("corrupt" if status == "rejected"
                                                        else "uploading"),
                    sha256=hashlib.sha256(key.encode()).hexdigest() if verified else "",
                    read_count=size // 150 if verified else None,
                    uploaded_at=at + timedelta(minutes=40) if status != "uploading" else None,
                    upload_started_at=at,
                    verified_at=at + timedelta(hours=1) if verified else None))
                if verified and job_status != "archived":
                    ledger.append(StoredObject(bucket=raw, key=key, lab=lab, job_id=sample.job_id,
                                               size=size, created_at=at + timedelta(minutes=40)))
            site[sample.id] = (lab, sample.job_id if job_status else None)
            if not job_status:
                continue
            submitted = min(now, at + timedelta(hours=rnd.uniform(2, 48)))
            done = job_status not in ("queued", "running")
            finished = min(now, submitted + timedelta(hours=rnd.uniform(3, 20))) if done else None
            steps = [{"process": s, "status": "completed",
                      "duration_s": round(rnd.uniform(30, 4000), 2), "exit_code": 0}
                     for s in STEPS]
            if job_status == "failed":
                steps[3].update(status="failed", exit_code=137, duration_s=None)
                for s in steps[4:]:
                    s.update(status="pending", duration_s=None, exit_code=None)
            elif not done:
                for s in steps[2:]:
                    s.update(status="pending", duration_s=None, exit_code=None)
                if job_status == "running":
                    steps[2]["status"] = "running"
            ok = job_status in ("succeeded", "archived")
            qc = {"schema": "wes-portal/qc/1", "sample": name,
                  "reads_before_filtering": 60_000_000, "reads_after_filtering": 59_312_000,
                  "q30_rate_before": 0.91, "q30_rate_after": 0.93, "mapped_pct": 99.2,
                  "properly_paired_pct": 98.1, "duplication_pct": round(rnd.uniform(3, 12), 2),
                  "mean_target_depth": round(rnd.uniform(60, 140), 1),
                  "pct_targets_ge_20x": 96.5, "pct_target_bases_ge_20x": 97.9, "targets": 190_000,
                  "target_bases": 36_000_000, "overall": "pass"} if ok else {}
            job = Job(id=sample.job_id, lab=lab, sample=sample, status=job_status,
                      submitted_by=author, submitted_at=submitted, queued_at=submitted,
                      started_at=submitted + timedelta(minutes=2), finished_at=finished,
                      runner="nextflow", attempts=1, progress=steps, qc=qc,
                      failed_step="CALL_VARIANTS" if job_status == "failed" else "",
                      exit_code=137 if job_status == "failed" else None,
                      error="Process exceeded its memory" if job_status == "failed" else "",
                      archived_at=(finished + timedelta(days=90) if job_status == "archived"
                                   else None))
            jobs.append(job)
            if not ok:
                continue
            usages.append(JobUsage(job=job, lab=lab, cpu_seconds=rnd.uniform(20_000, 90_000),
                                   realtime_seconds=rnd.uniform(10_000, 40_000), tasks=len(STEPS),
                                   recorded_at=finished))
            for role, path, size in OUTPUTS:
                path = path.format(s=name)
                key = keys.job_output_key(lab, job.id, path)
                outputs.append(JobOutput(lab=lab, job=job, path=path, bucket_role=role, key=key,
                                         size=size, sha256=hashlib.sha256(key.encode()).hexdigest(),
                                         verified_at=finished))
                if job_status == "succeeded":
                    bucket = results if role == "results" else intermediate
                    ledger.append(StoredObject(bucket=bucket, key=key, lab=lab, job_id=job.id,
                                               size=size, created_at=finished))
            pending = job_status == "succeeded" and rnd.random() < scale.pending_share
            signed = None if pending else finished + timedelta(days=rnd.uniform(1, 10))
            digest = hashlib.sha256(f"report-{job.id}".encode()).hexdigest()
            reports.append(Report(
                lab=lab, job=job, version=1, status="pending_review" if pending else "signed_out",
                interpretation="No pathogenic variant explaining the phenotype was found.",
                result_summary="Negative", drafted_at=finished, created_at=finished,
                draft_key=keys.report_key(lab, job.id, name, 1, signed=False, sha256=digest),
                draft_sha256=digest, draft_size=80_000,
                signed_key="" if pending else keys.report_key(lab, job.id, name, 1, signed=True,
                                                               sha256=digest),
                signed_sha256="" if pending else digest,
                signed_by=None if pending else reviewer, signed_at=signed,
                meaning="" if pending else "Reviewed and approved"))

    # The timed sample: the largest lab's last analysed one, its report waiting for review.
    target = next(j for j in reversed(jobs) if j.lab_id == labs[0].pk and j.status == "succeeded")
    for report in reports:
        if report.job is target:
            report.status, report.signed_by, report.signed_at = "pending_review", None, None
            report.signed_key, report.signed_sha256, report.meaning = "", "", ""
    for model, rows in ((Sample, samples), (SampleFile, files), (Job, jobs), (JobUsage, usages),
                        (JobOutput, outputs), (Report, reports), (StoredObject, ledger)):
        model.objects.bulk_create(rows, batch_size=BATCH)
    seconds["rows"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    target_sample = target.sample
    table = generated_table(scale.variants, sample=target_sample.name)
    assert load_variants(job=target, lines=table) == scale.variants
    seconds["variants"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    _copy_audit_events(scale.events, labs, per_lab, people, site, rnd, year_ago, now)
    seconds["audit_events"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seconds["analyze"] = round(time.perf_counter() - started, 1)
    counts = {"labs": len(labs), "users": len(users) + 2, "samples": len(samples),
              "big_lab_samples": per_lab[0], "sample_files": len(files), "jobs": len(jobs),
              "jobs_by_status": {s: sum(j.status == s for j in jobs)
                                 for s in sorted({j.status for j in jobs})},
              "reports": len(reports),
              "reports_pending": sum(r.status == "pending_review" for r in reports),
              "big_lab_reports_pending": sum(r.status == "pending_review" and r.lab_id == labs[0].pk
                                             for r in reports),
              "job_outputs": len(outputs), "stored_objects": len(ledger),
              "audit_events": scale.events, "variants": scale.variants}
    return Seeded(lab=labs[0], manager=manager, staff=staff, sample=target_sample, job=target,
                  counts=counts, seconds=seconds)


def _copy_audit_events(count, labs, per_lab, people, site, rnd, start, end) -> None:
    """`count` events over [start, end), in time order (ids follow time as in a real log), each
    lab's share proportional to its samples, naming that lab's samples, jobs and people."""
    from django.db import connection

    by_lab: dict = {}
    for sample_id, (lab, job_id) in site.items():
        by_lab.setdefault(lab.pk, []).append((str(sample_id), str(job_id) if job_id else None))
    weights = [max(1, n) for n in per_lab]
    actions, action_weights = ACTIONS, [a[1] for a in ACTIONS]
    span = (end - start).total_seconds()
    prev = "0" * 64
    statement = f"COPY tenants_auditevent ({', '.join(AUDIT_COLUMNS)}) FROM STDIN"
    # Draw the lab and action of every row up front: choices() in bulk is much cheaper.
    lab_picks = rnd.choices(range(len(labs)), weights, k=count)
    action_picks = rnd.choices(range(len(actions)), action_weights, k=count)
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for n in range(count):
            at = start + timedelta(seconds=span * n / count + rnd.random())
            action, _w, kind, phi, exported = actions[action_picks[n]]
            lab = labs[lab_picks[n]]
            user, _role = rnd.choice(people[lab.pk])
            actor_id, email, lab_id = f"user:{user.pk}", user.email, lab.pk
            rtype, rid, details = "", "", {}
            sample_id, job_id = rnd.choice(by_lab[lab.pk])
            if kind in ("job", "report", "output", "variant") and job_id is None:
                kind = "sample"
            if kind == "sample":
                rtype, rid, details = "sample", sample_id, {"sample": sample_id}
            elif kind == "file":
                rtype, rid = "sample_file", str(uuid.UUID(int=rnd.getrandbits(128)))
                details = {"sample": sample_id, "read": rnd.choice(["R1", "R2"]),
                           "size": rnd.randint(2_000_000_000, 7_000_000_000)}
            elif kind == "job":
                rtype, rid, details = "job", job_id, {"job": job_id, "sample": sample_id}
            elif kind == "report":
                rtype, rid = "report", str(uuid.UUID(int=rnd.getrandbits(128)))
                details = {"job": job_id, "sample": sample_id, "version": 1}
            elif kind == "output":
                rtype, rid = "job_output", str(uuid.UUID(int=rnd.getrandbits(128)))
                details = {"job": job_id, "sample": sample_id, "path": "vcf/S.vcf.gz",
                           "size": 9_000_000, "reason": "clinical_review"}
            elif kind == "variant":
                rtype, rid = "variant", str(rnd.randint(1, 50_000))
                details = {"job": job_id, "variant": f"V{rnd.randint(1, 50_000):06d}"}
            elif kind == "list":
                rtype, details = "sample", {"count": per_lab[lab_picks[n]], "search": ""}
            elif kind == "queue":
                rtype, details = "report", {"count": rnd.randint(0, 40)}
            elif kind == "none":
                rtype, rid, lab_id = "user", str(user.pk), None
            else:  # a failed sign-in: no user, no lab
                actor_id, email, lab_id = "anonymous", "", None
                details = {"claimed_identity": user.email}
            digest = hashlib.sha256(f"bench-audit-{n}".encode()).hexdigest()
            copy.write_row((at, actor_id, email, lab_id, action, rtype, rid, json.dumps(details),
                            phi, exported, f"10.{lab_picks[n] % 250}.{user.pk % 250}.{n % 250}",
                            AGENTS[user.pk % len(AGENTS)], f"{n:032x}", prev, digest))
            prev = digest
