"""Report review and sign-out: drafts, re-authenticated signing, amendments, who sees what,
audited PDF downloads and notifications (against the real S3 server)."""

import hashlib
import io
import json
import re
import time
import uuid
from datetime import timedelta

import pytest
import requests
from django.core import mail
from django.utils import timezone

from jobs.reports import services as reports
from jobs.models import Job, JobOutput, Report, Sample
from jobs.results.variant_table import load_variants
from storage import keys, s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-staple"
HEADER = ("variant_id\tsample\tchrom\tpos\tref\talt\tgenotype\tdepth\tallele_depth\tvaf\tqual\t"
          "filter\tgene\ttranscript\tconsequence\thgvs_p\thgvs_c\tprotein_change\tdna_change")
ROWS = [
    "WES-0000000000000001\tREP1\tchr1\t1000\tA\tG\t0/1\t40\t20,20\t0.5000\t99\tPASS\tGENE1\tT1\t"
    "missense\tp.Gln10Pro\t\t10Q>10P\t1000A>G",
    "WES-0000000000000002\tREP1\tchr1\t2000\tC\tT\t1/1\t35\t0,35\t1.0000\t80\tPASS\tGENE2\tT2\t"
    "stop_gained\tp.Gln20Ter\t\t20Q>20*\t2000C>T",
    "WES-0000000000000003\tREP1\tchr2\t3000\tG\tA\t0/1\t12\t6,6\t0.5000\t15\tLowQual\tGENE3\tT3\t"
    "synonymous\tp.Leu5=\t\t5L\t3000G>A",
]
METADATA = {"schema": "wes-portal/metadata/1", "sample": "REP1", "runner": "local",
            "parameters": {"caller": "bcftools"},
            "reference": {"build": "wes-mini", "path": "ref.fa", "size": 1, "sha256": "0" * 64},
            "tools": {"fastp": "0.23.2", "bwa": "0.7.17-r1188", "samtools": "1.16.1",
                      "bcftools": "1.16", "python": "3.11.7"},
            "inputs": {}, "outputs": {}, "timings": None}


@pytest.fixture
def succeeded_job(provisioned_s3, sync_tasks, clinician, manager):
    """A succeeded job of lab A as the pipeline leaves it: metadata.json in the results bucket,
    variants loaded, QC recorded; no report yet."""
    lab = clinician.lab
    sample = Sample.objects.create(lab=lab, name="REP1", external_id="PSEUDO-0042", sex="female",
                                   clinical_indication="Suspected cardiomyopathy",
                                   hpo_terms=["HP:0001638"], consent_confirmed_at=timezone.now(),
                                   created_by=clinician.user, status="submitted")
    job = Job.objects.create(lab=lab, sample=sample, status="succeeded",
                             submitted_by=clinician.user, started_at=timezone.now(),
                             finished_at=timezone.now(), runner="local", attempts=1,
                             qc={"reads_before_filtering": 200000,
                                 "reads_after_filtering": 198000, "mapped_pct": 99.1})
    body = json.dumps(METADATA).encode()
    key = keys.job_output_key(lab, job.pk, "metadata.json")
    s3.put_bytes(bucket_name("results"), key, body, content_type="application/json")
    JobOutput.objects.create(lab=lab, job=job, path="metadata.json", bucket_role="results",
                             key=key, size=len(body), sha256=hashlib.sha256(body).hexdigest(),
                             verified_at=timezone.now())
    load_variants(job=job, lines=[HEADER, *ROWS])
    mail.outbox.clear()
    return job


@pytest.fixture
def finished_job(succeeded_job):
    """The same job with its draft report written, as after a run."""
    reports.report_draft_create(job_id=succeeded_job.pk)
    return succeeded_job


def test_a_succeeded_job_whose_draft_task_was_lost_still_reaches_review(succeeded_job, settings):
    # The task queued at success never ran: the worker cluster died with it, or Redis lost it.
    settings.DRAFT_RETRY_AFTER_SECONDS = 120
    assert reports.report_drafts_resume() == 0, "a job that just finished gets a moment first"
    Job.objects.filter(pk=succeeded_job.pk).update(finished_at=timezone.now() - timedelta(minutes=3))

    assert reports.report_drafts_resume() == 1     # the reaper's minute: queued again, and run
    report = succeeded_job.reports.get()
    assert (report.version, report.status) == (1, "pending_review") and report.draft_sha256
    assert [m.to for m in mail.outbox] == [["manager@lab-a.test"]]
    assert reports.report_drafts_resume() == 0, "a job with its draft is left alone"


def report_url(job, slug="lab-a"):
    return f"/labs/{slug}/jobs/{job.pk}/report/"


def sign(client, report, password=PASSWORD, **extra):
    """Sign as the page would: naming the draft currently on screen (the one stored now)."""
    shown = Report.objects.get(pk=report.pk).draft_sha256
    return client.post(f"/labs/lab-a/jobs/{report.job_id}/report/{report.pk}/sign/",
                       {"confirm": "on", "password": password, "comment": "Agreed.",
                        "draft_sha256": shown, **extra})


def fetch_pdf(client, report, kind="signed"):
    response = client.post(f"/labs/lab-a/jobs/{report.job_id}/report/{report.pk}/{kind}.pdf",
                           {"reason": "clinical_care"})
    assert response.status_code == 302, response.content.decode()[:500]
    fetched = requests.get(response.url, timeout=30)
    assert fetched.status_code == 200
    return fetched


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_it_drafts_version_one_and_tells_the_managers(finished_job, manager):
    (report,) = finished_job.reports.all()
    assert (report.version, report.status) == (1, "pending_review")
    stored = s3.open_object(bucket_name("results"), report.draft_key).read()
    assert hashlib.sha256(stored).hexdigest() == report.draft_sha256
    assert report.draft_key.startswith(f"{finished_job.lab_id}/{finished_job.pk}/report/")
    text = pdf_text(stored)
    assert "PSEUDO-0042" in text and "DRAFT" in text.upper()
    # Nothing is selected yet: the draft says so, and lists no variant.
    assert "No reportable variants were identified." in text and "GENE2" not in text
    assert [m.to for m in mail.outbox] == [[manager.user.email]]
    assert "awaits review" in mail.outbox[0].subject and "REP1" in mail.outbox[0].subject
    (event,) = AuditEvent.objects.filter(action=audit_actions.REPORT_DRAFTED)
    assert event.phi_accessed and event.details["sha256"] == report.draft_sha256
    assert reports.report_draft_create(job_id=finished_job.pk) == report, "safe to run twice"
    assert finished_job.reports.count() == 1


def test_a_clinician_never_sees_an_unsigned_report(client_for, clinician, finished_job):
    client = client_for(clinician)
    report = finished_job.reports.get()
    assert client.get(report_url(finished_job)).status_code == 404
    for kind in ("draft", "signed"):
        url = f"/labs/lab-a/jobs/{finished_job.pk}/report/{report.pk}/{kind}.pdf"
        assert client.get(url).status_code == 404
        assert client.post(url, {"reason": "clinical_care"}).status_code == 404
    assert client.get("/labs/lab-a/reviews/").status_code == 403
    assert sign(client, report).status_code == 403
    page = client.get(f"/labs/lab-a/jobs/{finished_job.pk}/").content.decode()
    assert "once a lab manager has signed the report out" in page
    assert not AuditEvent.objects.filter(action=audit_actions.REPORT_DOWNLOADED).exists()


def test_an_outsider_gets_404_on_every_report_url(client_for, outsider, finished_job):
    client = client_for(outsider)
    report = finished_job.reports.get()
    for slug in ("lab-a", "lab-b"):
        base = f"/labs/{slug}/jobs/{finished_job.pk}/report/"
        assert client.get(base).status_code == 404
        assert client.get(f"/labs/{slug}/reviews/").status_code == (404 if slug == "lab-a"
                                                                     else 200)
        for tail in ("sign/", "amend/", "draft/", "signed.pdf", "draft.pdf"):
            assert client.post(base + f"{report.pk}/" + tail,
                               {"reason": "clinical_care", "password": PASSWORD}).status_code == 404
    assert Report.objects.get().status == "pending_review"


def test_sign_out_needs_the_managers_password(client_for, manager, finished_job):
    client = client_for(manager)
    report = finished_job.reports.get()
    response = sign(client, report, password="wrong")
    assert response.status_code == 400
    assert "Re-authentication failed" in response.content.decode()
    report.refresh_from_db()
    assert report.status == "pending_review" and not report.signed_key
    assert AuditEvent.objects.filter(action=audit_actions.REPORT_REAUTH_FAILED).count() == 1
    response = sign(client, report, password="", confirm="")
    assert response.status_code == 400 and "Re-enter your password" in response.content.decode()


def test_sign_out_stores_a_signed_pdf_and_releases_results(client_for, manager, clinician,
                                                          finished_job):
    report = finished_job.reports.get()
    mail.outbox.clear()
    assert sign(client_for(manager), report).status_code == 302
    report.refresh_from_db()
    assert report.status == "signed_out" and report.signed_by == manager.user
    assert report.signed_key != report.draft_key
    assert report.meaning == "Reviewed and approved" and report.comment == "Agreed."
    (event,) = AuditEvent.objects.filter(action=audit_actions.REPORT_SIGNED_OUT)
    assert event.phi_accessed and event.details["approved_sha256"] == report.draft_sha256
    assert [m.to for m in mail.outbox] == [[clinician.user.email]]

    client = client_for(clinician)
    assert client.get(report_url(finished_job)).status_code == 200
    fetched = fetch_pdf(client, report)
    assert hashlib.sha256(fetched.content).hexdigest() == report.signed_sha256
    assert fetched.headers["Content-Disposition"].startswith("attachment;")
    text = pdf_text(fetched.content)
    assert manager.user.email in text and "Reviewed and approved" in text
    assert report.draft_sha256 in text.replace("\n", "").replace(" ", "")
    # The draft stays a manager-only document.
    url = f"/labs/lab-a/jobs/{finished_job.pk}/report/{report.pk}/draft.pdf"
    assert client.post(url, {"reason": "clinical_care"}).status_code == 403
    # Outputs are now released to the clinician.
    output = finished_job.outputs.get(path="metadata.json")
    download = client.post(f"/labs/lab-a/jobs/{finished_job.pk}/outputs/{output.pk}/download/",
                           {"reason": "clinical_care"})
    assert download.status_code == 302


def test_signing_twice_is_refused(client_for, manager, finished_job):
    report = finished_job.reports.get()
    client = client_for(manager)
    assert sign(client, report).status_code == 302
    response = sign(client, report)
    assert response.status_code == 400 and "not pending review" in response.content.decode()
    assert AuditEvent.objects.filter(action=audit_actions.REPORT_SIGNED_OUT).count() == 1


def test_an_amendment_is_a_new_version_signed_after_review_and_the_old_stays_readable(
        client_for, manager, clinician, finished_job):
    client = client_for(manager)
    v1 = finished_job.reports.get()
    assert sign(client, v1).status_code == 302
    response = client.post(f"/labs/lab-a/jobs/{finished_job.pk}/report/{v1.pk}/amend/",
                           {"interpretation": "GENE2 stop-gain explains the phenotype.",
                            "reason": "Segregation data received."})
    assert response.status_code == 302, response.content.decode()[:2000]
    v2 = finished_job.reports.get(version=2)
    v1.refresh_from_db()
    assert (v1.status, v2.status, v2.amends) == ("signed_out", "pending_review", v1)
    # Until the amendment is signed, the clinician still sees version 1 only.
    page = client_for(clinician).get(report_url(finished_job)).content.decode()
    assert "<h2>Version 1 ·" in page and "<h2>Version 2" not in page
    client = client_for(manager)  # one test client: signing in again switches the persona
    draft = fetch_pdf(client, v2, kind="draft")
    assert hashlib.sha256(draft.content).hexdigest() == v2.draft_sha256
    assert "Segregation data received." in pdf_text(draft.content)

    assert sign(client, v2).status_code == 302
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == ("superseded", "signed_out")
    assert v1.signed_key and v2.signed_key != v1.signed_key
    old = fetch_pdf(client_for(clinician), v1)
    assert hashlib.sha256(old.content).hexdigest() == v1.signed_sha256
    new_text = pdf_text(fetch_pdf(client_for(clinician), v2).content)
    assert "Segregation data received." in new_text and "GENE2 stop-gain" in new_text
    assert v2.draft_sha256 in new_text.replace("\n", "").replace(" ", ""), \
        "the signature names the draft the manager reviewed"
    page = client_for(clinician).get(report_url(finished_job)).content.decode()
    assert 'data-version-status="superseded"' in page and "Version 2" in page
    (event,) = AuditEvent.objects.filter(action=audit_actions.REPORT_AMENDED)
    assert event.phi_accessed and event.details["supersedes"] == str(v1.pk)


def test_amending_needs_a_reason_and_only_one_amendment_at_a_time(client_for, manager,
                                                                 finished_job):
    client = client_for(manager)
    v1 = finished_job.reports.get()
    sign(client, v1)
    url = f"/labs/lab-a/jobs/{finished_job.pk}/report/{v1.pk}/amend/"
    assert client.post(url, {"interpretation": "x", "reason": ""}).status_code == 400
    assert client.post(url, {"interpretation": "x", "reason": "y"}).status_code == 302
    response = client.post(url, {"interpretation": "z", "reason": "again"})
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert finished_job.reports.count() == 2


def test_a_code_from_the_authenticator_app_also_signs(client_for, manager, finished_job):
    from allauth.mfa.totp.internal.auth import (TOTP, format_hotp_value, generate_totp_secret,
                                                hotp_value, yield_hotp_counters_from_time)

    secret = generate_totp_secret()
    TOTP.activate(manager.user, secret)
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    report = finished_job.reports.get()
    response = sign(client_for(manager), report, password="", code=code)
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == "signed_out"


def test_a_clinician_who_turned_notifications_off_gets_no_email(client_for, manager, clinician,
                                                               finished_job):
    client = client_for(clinician)
    response = client.post("/labs/lab-a/notifications/", {})
    assert response.status_code == 302
    clinician.refresh_from_db()
    assert clinician.email_notifications is False
    mail.outbox.clear()
    sign(client_for(manager), finished_job.reports.get())
    assert mail.outbox == []
    assert AuditEvent.objects.filter(action=audit_actions.NOTIFICATIONS_CHANGED).count() == 1


def test_a_failed_job_emails_its_submitter(provisioned_s3, sync_tasks, clinician, manager):
    from jobs.reports.notifications import notify

    lab = clinician.lab
    sample = Sample.objects.create(lab=lab, name="FAIL1", external_id="P-1", sex="male",
                                   clinical_indication="x", consent_confirmed_at=timezone.now(),
                                   created_by=clinician.user, status="submitted")
    job = Job.objects.create(lab=lab, sample=sample, status="failed", submitted_by=clinician.user,
                             failed_step="BWA_ALIGN")
    assert notify("job_failed", job.pk) == 1
    (message,) = mail.outbox
    assert message.to == [clinician.user.email] and "FAIL1" in message.subject
    assert f"/labs/lab-a/jobs/{job.pk}/" in message.body and "BWA_ALIGN" in message.body


def test_the_review_queue_lists_pending_reports_of_the_lab_only(client_for, manager, finished_job):
    page = client_for(manager).get("/labs/lab-a/reviews/").content.decode()
    assert "REP1" in page and "PSEUDO-0042" in page
    sign(client_for(manager), finished_job.reports.get())
    page = client_for(manager).get("/labs/lab-a/reviews/").content.decode()
    assert "REP1" not in page and "No report is waiting" in page


def test_a_url_for_one_report_does_not_open_another_and_expires(client_for, manager, finished_job,
                                                               settings):
    report = finished_job.reports.get()
    sign(client_for(manager), report)
    report.refresh_from_db()
    settings.STORAGE_PRESIGNED_EXPIRY_SECONDS = 1
    response = client_for(manager).post(
        f"/labs/lab-a/jobs/{finished_job.pk}/report/{report.pk}/signed.pdf", {"reason": "lab_review"})
    tampered = response.url.replace(report.signed_key, report.draft_key)
    assert tampered != response.url and requests.get(tampered, timeout=30).status_code == 403
    time.sleep(2.5)
    assert requests.get(response.url, timeout=30).status_code == 403


def test_each_results_endpoint_writes_exactly_one_audit_event(client_for, manager, clinician,
                                                             finished_job):
    report = finished_job.reports.get()
    client = client_for(manager)
    job_url = f"/labs/lab-a/jobs/{finished_job.pk}/"
    calls = [
        (lambda: client.get(job_url), audit_actions.JOB_VIEWED, (True, False)),
        (lambda: client.get(job_url + "report/"), audit_actions.REPORT_VIEWED, (True, False)),
        (lambda: client.get("/labs/lab-a/reviews/"), audit_actions.REVIEW_QUEUE_VIEWED, (True, False)),
        (lambda: client.get(job_url + "variants/"), audit_actions.VARIANTS_VIEWED, (True, False)),
        (lambda: client.post(job_url + f"report/{report.pk}/draft.pdf",
                             {"reason": "lab_review"}), audit_actions.REPORT_DOWNLOADED, (True, True)),
        (lambda: sign(client, report), audit_actions.REPORT_SIGNED_OUT, (True, False)),
        (lambda: client.post(job_url + f"report/{report.pk}/signed.pdf",
                             {"reason": "clinical_care"}), audit_actions.REPORT_DOWNLOADED, (True, True)),
    ]
    for call, action, flags in calls:
        last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        response = call()
        assert response.status_code in (200, 302), (action, response.status_code)
        # the user's own events (the worker's notification event after a sign-out is the system's)
        new = list(AuditEvent.objects.filter(id__gt=last, actor_email=manager.user.email))
        assert [e.action for e in new] == [action], (action, [e.action for e in new])
        assert (new[0].phi_accessed, new[0].data_exported) == flags, action


def test_sign_out_signs_only_the_draft_that_was_read(client_for, manager, finished_job):
    from tenants.services import membership_add
    from tests.helpers import make_user

    report = finished_job.reports.get()
    reader = client_for(manager)
    page = reader.get(report_url(finished_job)).content.decode()
    on_screen = re.search(r'name="draft_sha256" value="([0-9a-f]{64})"', page).group(1)
    assert on_screen == report.draft_sha256

    # While the first manager reads, a second one saves a new interpretation.
    colleague = make_user("second-manager@lab-a.test")
    membership_add(lab=finished_job.lab, user=colleague, role="manager")
    assert client_for(colleague.memberships.get()).post(
        report_url(finished_job) + f"{report.pk}/draft/",
        {"interpretation": "A conclusion the first manager never saw."}).status_code == 302

    refused = sign(reader, report, draft_sha256=on_screen)
    assert refused.status_code == 302
    page = reader.get(refused["Location"]).content.decode()
    assert "changed while you were reading it, so nothing was signed" in page
    report.refresh_from_db()
    assert (report.status, report.signed_key, report.signed_at) == ("pending_review", "", None)
    assert not AuditEvent.objects.filter(action=audit_actions.REPORT_SIGNED_OUT).exists()

    now_on_screen = re.search(r'name="draft_sha256" value="([0-9a-f]{64})"', page).group(1)
    assert now_on_screen == report.draft_sha256 != on_screen
    assert sign(reader, report, draft_sha256=now_on_screen).status_code == 302
    report.refresh_from_db()
    assert report.status == "signed_out"
    signed = AuditEvent.objects.get(action=audit_actions.REPORT_SIGNED_OUT)
    assert signed.details["approved_sha256"] == now_on_screen


def test_a_report_of_another_job_is_not_found(client_for, manager, finished_job):
    report = finished_job.reports.get()
    url = f"/labs/lab-a/jobs/{uuid.uuid4()}/report/{report.pk}/sign/"
    assert client_for(manager).post(url, {"confirm": "on", "password": PASSWORD}).status_code == 404


def test_presigned_urls_never_reach_the_logs(client_for, manager, finished_job, caplog):
    import logging

    report = finished_job.reports.get()
    with caplog.at_level(logging.DEBUG):
        response = client_for(manager).post(
            f"/labs/lab-a/jobs/{finished_job.pk}/report/{report.pk}/draft.pdf",
            {"reason": "lab_review"})
    assert "X-Amz-Signature=" in response.url
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "X-Amz-Signature" not in logged and response.url not in logged


def test_the_sample_page_shows_qc_and_the_timeline_in_review(client_for, clinician, finished_job):
    page = client_for(clinician).get(
        f"/labs/lab-a/samples/{finished_job.sample_id}/").content.decode()
    assert 'data-qc-key="mapped_pct"' in page and "99.10%" in page
    assert 'data-timeline-step="In review" data-timeline-state="current"' in page
    assert 'data-timeline-step="Signed out" data-timeline-state="pending"' in page


def classify_and_select(client, job, variant_id, *, final_class="pathogenic",
                        category="primary", criteria=("PVS1", "PS3")):
    variant = job.variants.get(variant_id=variant_id)
    base = f"/labs/lab-a/jobs/{job.pk}/variants/{variant.pk}/"
    data = {"final_class": final_class, "comment": "Segregates with disease."}
    data.update({f"met_{code}": "on" for code in criteria})
    response = client.post(base + "classify/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    response = client.post(base + "select/", {"category": category})
    assert response.status_code == 302, response.content.decode()[:3000]
    return variant


def test_the_report_lists_what_the_reviewer_selected_and_sign_out_waits_for_a_fresh_draft(
        client_for, manager, finished_job):
    client = client_for(manager)
    report = finished_job.reports.get()
    classify_and_select(client, finished_job, "WES-0000000000000002")
    page = client.get(report_url(finished_job)).content.decode()
    assert 'data-selected-variants="1"' in page and "data-review-changed" in page

    # The draft on screen lists no variant: signing it now would sign the wrong report.
    response = sign(client, report)
    assert response.status_code == 400
    assert "changed after this draft was written" in response.content.decode()
    assert Report.objects.get(pk=report.pk).status == "pending_review"

    response = client.post(f"/labs/lab-a/jobs/{finished_job.pk}/report/{report.pk}/draft/",
                           {"interpretation": "GENE2 stop-gain explains the phenotype.",
                            "result_summary": "Pathogenic variant in GENE2.",
                            "panel_version": ""})
    assert response.status_code == 302, response.content.decode()[:3000]
    draft = pdf_text(fetch_pdf(client, Report.objects.get(pk=report.pk), kind="draft").content)
    assert "Pathogenic variant in GENE2." in draft and "GENE1" not in draft
    assert "PVS1, PS3" in draft and "Segregates with disease." in draft
    assert sign(client, report).status_code == 302
    signed = pdf_text(fetch_pdf(client, Report.objects.get(pk=report.pk)).content)
    assert "GENE2" in signed and "p.Gln20Ter" in signed and "Pathogenic" in signed
    events = AuditEvent.objects.filter(action__in=[audit_actions.VARIANT_CLASSIFIED,
                                                   audit_actions.VARIANT_SELECTED])
    assert sorted(e.action for e in events) == [audit_actions.VARIANT_CLASSIFIED,
                                                audit_actions.VARIANT_SELECTED]


def test_save_draft_shows_the_new_drafts_own_time(client_for, manager, finished_job):
    """Each save writes a new draft; the page names its time to the second, so a save a few
    seconds after the last one visibly changes it (to the minute, two saves looked alike)."""
    client = client_for(manager)
    report = finished_job.reports.get()
    url = f"/labs/lab-a/jobs/{finished_job.pk}/report/{report.pk}/draft/"
    shown = []
    for interpretation in ("First reading.", "Second reading."):
        time.sleep(1.1)
        response = client.post(url, {"interpretation": interpretation, "result_summary": "",
                                     "panel_version": ""}, follow=True)
        html = response.content.decode()
        drafted = Report.objects.get(pk=report.pk).drafted_at
        written = timezone.localtime(drafted)
        assert f"The draft was written again at {written:%H:%M:%S}" in html
        assert (f'<time datetime="{written.isoformat()}" data-drafted-at>'
                f'{written:%Y-%m-%d %H:%M:%S}</time>') in html
        shown.append(re.search(r"data-drafted-at>([^<]+)<", html).group(1))
    assert shown[0] != shown[1]


def test_a_refused_sign_out_lists_every_error_at_the_top_linked_to_its_field(client_for, manager,
                                                                           finished_job):
    report = finished_job.reports.get()
    response = client_for(manager).post(
        f"/labs/lab-a/jobs/{finished_job.pk}/report/{report.pk}/sign/",
        {"password": "", "draft_sha256": report.draft_sha256})
    assert response.status_code == 400
    html = response.content.decode()
    summary = html.split('id="error-summary"')[1].split("</div>")[0]
    assert 'tabindex="-1" autofocus' in summary
    assert "Nothing was changed: 2 things need your attention" in summary
    assert ('<a href="#id_confirm" data-error-for="id_confirm">Tick the box to confirm the '
            'meaning of your signature (“Reviewed and approved”).</a>') in summary
    assert "Re-enter your password (or an authenticator code) to sign." in summary
    assert html.index('id="error-summary"') < html.index("data-current-report")
    # and next to the field, in a form the browser does not block before the server can explain
    sign_form = html.split("data-sign-form")[1].split("</form>")[0]
    assert sign_form.startswith(" novalidate>")
    assert "Tick the box to confirm the meaning of your signature" in sign_form
    assert Report.objects.get(pk=report.pk).status == "pending_review"


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_clinician_reads_the_samples_history_and_outputs_in_words(client_for, manager,
                                                                    clinician, finished_job):
    report = finished_job.reports.get()
    assert sign(client_for(manager), report).status_code == 302
    client = client_for(clinician)
    fetch_pdf(client, Report.objects.get(pk=report.pk))
    html = client.get(f"/labs/lab-a/samples/{finished_job.sample_id}/").content.decode()
    history = visible_text(html.split("<h2>History</h2>")[1])
    assert "Report signed out" in history and "Report downloaded" in history
    assert "reason: Clinical care of this patient" in history
    codes = [c for c in vars(audit_actions).values() if isinstance(c, str) and "." in c]
    assert not [c for c in codes if c in history], history
    assert "clinical_care" not in history
    assert f'data-history-action="{audit_actions.REPORT_DOWNLOADED}"' in html

    job_page = visible_text(client.get(f"/labs/lab-a/jobs/{finished_job.pk}/").content.decode())
    assert "Kept with the results" in job_page
    assert "Bucket" not in job_page and "bucket" not in job_page
