"""The JSON API (docs/api.md) with real tokens: refusals (none, malformed, expired, revoked,
member removed, wrong scope, another lab), the error shape, the audit trail naming the token, the
rate limit, no-store, and the whole intake flow against the real S3 server."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import requests
from django.test import override_settings
from django.utils import timezone

from jobs.models import FileStatus, SampleStatus
from portal.tests import isolation_world
from tenants.api_tokens import token_create
from tenants.models import ApiToken, AuditEvent
from tenants.services import membership_remove

pytestmark = pytest.mark.django_db
API = "/api/v1"


def bearer(text: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {text}"}


@pytest.fixture
def token_for():
    def make(membership, scope="upload", days=30):
        return token_create(membership=membership, name="laptop", days=days, scope=scope)
    return make


def get(client, path, token, **params):
    return client.get(API + path, params, **bearer(token))


def post(client, path, token, data=None):
    return client.post(API + path, data or {}, content_type="application/json", **bearer(token))


def test_the_token_is_shown_once_and_only_its_hash_is_stored(clinician, token_for):
    row, text = token_for(clinician)
    prefix, secret = text.removeprefix("wes_").split("_", 1)
    assert prefix == row.prefix and len(secret) >= 43
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get(pk=row.pk))
    created = AuditEvent.objects.filter(action="api_token.created").get()
    assert created.details["token_id"] == prefix and secret not in str(created.details)


def test_a_token_lasts_at_most_90_days_and_has_a_known_scope(clinician):
    from django.core.exceptions import ValidationError

    for days, scope in ((91, "read"), (0, "read"), (30, "admin")):
        with pytest.raises(ValidationError):
            token_create(membership=clinician, name="x", days=days, scope=scope)


def test_labs_answers_the_tokens_lab_and_names_the_token_in_the_audit_log(client, clinician,
                                                                          token_for):
    row, text = token_for(clinician, scope="read")
    response = get(client, "/labs", text)
    assert response.status_code == 200, response.content
    assert response.json() == {"items": [{"slug": "lab-a", "name": "Lab A Genomics",
                                          "role": "clinician"}]}
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.actor_email, event.details["token_id"]) == (
        "api.called", "clinician@lab-a.test", row.prefix)
    row.refresh_from_db()
    assert row.last_used_at is not None


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic abc",
                                    "Bearer wes_00000000_" + "x" * 43])
def test_no_or_unknown_token_is_401_in_the_error_shape(client, clinician, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get(API + "/labs", **extra)
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] is None
    assert response.json()["errors"][0]["message"]


def test_a_wrong_secret_is_refused(client, clinician, token_for):
    row, text = token_for(clinician)
    assert get(client, "/labs", text[:-2] + "zz").status_code == 401


def test_expired_revoked_and_removed_members_tokens_are_refused(client, manager, clinician,
                                                                token_for):
    from tenants.api_tokens import token_revoke

    expired, expired_text = token_for(clinician)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = get(client, "/labs", expired_text)
    assert response.status_code == 401 and "expired" in response.json()["errors"][0]["message"]

    revoked, revoked_text = token_for(clinician)
    assert get(client, "/labs", revoked_text).status_code == 200
    token_revoke(user=manager.user, token=revoked)          # a manager of the lab revokes it
    response = get(client, "/labs", revoked_text)
    assert response.status_code == 401 and "revoked" in response.json()["errors"][0]["message"]

    kept, kept_text = token_for(clinician)
    assert get(client, "/labs", kept_text).status_code == 200
    membership_remove(membership=manager, target=clinician)
    response = get(client, "/labs", kept_text)                # at once: nothing is cached
    assert response.status_code == 401
    assert "no longer a member" in response.json()["errors"][0]["message"]


def test_a_clinician_cannot_revoke_another_members_token(manager, clinician, token_for):
    from django.core.exceptions import PermissionDenied

    from tenants.api_tokens import token_revoke

    row, _ = token_for(manager)
    with pytest.raises(PermissionDenied):
        token_revoke(user=clinician.user, token=row)


def test_a_read_token_may_not_write(client, manager, clinician, token_for, moto_s3):
    world = isolation_world.build(manager=manager, clinician=clinician)
    _, text = token_for(clinician, scope="read")
    response = post(client, f"/labs/lab-a/samples/{world.ids['ready_sample_id']}/submit", text)
    assert response.status_code == 403
    assert "upload scope" in response.json()["errors"][0]["message"]
    response = post(client, f"/labs/lab-a/files/{world.ids['file_id']}/upload", text,
                    {"name": "x.fastq.gz", "size": 1})
    assert response.status_code == 403
    assert get(client, f"/labs/lab-a/samples/{world.ids['sample_id']}", text).status_code == 200


def test_another_labs_token_gets_404_for_lab_a(client, manager, clinician, outsider, token_for,
                                               moto_s3):
    world = isolation_world.build(manager=manager, clinician=clinician)
    _, text = token_for(outsider)
    for path in (f"/labs/lab-a/samples/{world.ids['sample_id']}", "/labs/lab-a/samples",
                 f"/labs/lab-b/samples/{world.ids['sample_id']}",
                 f"/labs/lab-b/jobs/{world.ids['job_id']}"):
        response = get(client, path, text)
        assert response.status_code == 404, path
        assert world.markers["sample"] not in response.content.decode()


def test_bad_requests_name_the_field(client, clinician, token_for):
    _, text = token_for(clinician)
    response = post(client, "/labs/lab-a/samples", text, {"name": "S1"})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"external_id", "sex", "r1", "r2", "consent"} <= fields
    response = client.post(API + "/labs/lab-a/samples", "{not json",
                           content_type="application/json", **bearer(text))
    assert response.status_code in (400, 422) and response.json()["errors"]
    response = post(client, "/labs/lab-a/samples", text, {
        "name": "bad name!", "external_id": "P1", "sex": "female",
        "clinical_indication": "x", "consent": False,
        "r1": {"name": "a_R1.fastq.gz", "size": 10}, "r2": {"name": "a_R1.txt", "size": 10}})
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"name", "consent", "r2"} <= fields
    response = get(client, "/labs/lab-a/samples", text, page_size=500)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "page_size"


def test_the_rate_limit_is_per_token_with_retry_after(client, clinician, manager, token_for):
    from django.core.cache import cache

    cache.clear()
    _, first = token_for(clinician)
    _, second = token_for(manager)
    with override_settings(API_RATE_LIMIT="3/minute"):
        assert [get(client, "/labs", first).status_code for _ in range(3)] == [200] * 3
        refused = get(client, "/labs", first)
        assert refused.status_code == 429
        assert 1 <= int(refused["Retry-After"]) <= 60
        assert "Too many requests" in refused.json()["errors"][0]["message"]
        assert get(client, "/labs", second).status_code == 200


def test_the_api_ignores_the_session_and_its_mfa_step(client, manager, token_for):
    """A manager's browser session that has not passed two-factor authentication is redirected
    on pages; the API answers by the token alone."""
    client.force_login(manager.user)
    session = client.session
    session.clear()
    _, text = token_for(manager)
    response = get(client, "/labs", text)
    assert response.status_code == 200
    assert client.get(API + "/labs").status_code == 401     # the cookie alone is nothing


def test_the_schema_is_served_without_a_token(client):
    response = client.get(API + "/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/labs/{lab}/files/{file_id}/upload/complete" in paths


def test_storage_down_is_503_with_a_clear_message(client, manager, clinician, token_for,
                                                  moto_s3, storage_down):
    world = isolation_world.build(manager=manager, clinician=clinician)
    _, text = token_for(manager)
    response = post(client, f"/labs/lab-a/jobs/{world.ids['job_id']}/outputs/"
                            f"{world.ids['output_id']}/download", text, {"reason": "lab_review"})
    assert response.status_code == 503
    assert "not answering" in response.json()["errors"][0]["message"]


def test_output_and_signed_report_downloads_are_audited_with_reason_and_token(
        client, manager, clinician, token_for, moto_s3):
    from storage import s3
    from storage.buckets import bucket_name
    from jobs.models import JobOutput, Report

    world = isolation_world.build(manager=manager, clinician=clinician)
    output = JobOutput.objects.get(pk=world.ids["output_id"])
    s3.create_bucket(bucket_name("results"))
    s3.put_bytes(bucket_name("results"), output.key, b"{}", content_type="application/json")
    report = Report.objects.get(pk=world.ids["report_id"])
    s3.put_bytes(bucket_name("results"), report.signed_key, b"%PDF", content_type="application/pdf")
    row, text = token_for(clinician, scope="read")

    url = f"/labs/lab-a/jobs/{output.job_id}/outputs/{output.pk}/download"
    missing = post(client, url, text, {})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
    response = post(client, url, text, {"reason": "second opinion for the family"})
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["file_name"] == "metadata.json" and answer["sha256"] == output.sha256
    assert answer["url"].startswith("http")
    event = AuditEvent.objects.filter(action="output.downloaded").get()
    assert event.details["token_id"] == row.prefix and event.data_exported
    assert (event.details["reason"], event.details["note"]) == (
        "other", "second opinion for the family")

    response = post(client, f"/labs/lab-a/reports/{report.pk}/download", text,
                    {"reason": "clinical_care"})
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.filter(action="report.downloaded").get()
    assert event.details["token_id"] == row.prefix and event.details["signed"] is True
    assert not AuditEvent.objects.filter(action="api.called", details__path__contains="download")


def test_jobs_list_and_get_show_steps_outputs_and_the_report(client, manager, clinician,
                                                             token_for, moto_s3):
    from jobs.models import Job

    world = isolation_world.build(manager=manager, clinician=clinician)
    Job.objects.filter(pk=world.ids["job_id"]).update(progress=[
        {"process": "FASTP", "status": "completed", "duration_s": 1.5, "exit_code": 0},
        {"process": "BWA_MEM", "status": "running"}])
    _, text = token_for(clinician, scope="read")
    listed = get(client, "/labs/lab-a/jobs", text, sample=world.ids["sample_id"]).json()
    assert listed["count"] == 1 and listed["page"] == 1 and listed["page_size"] == 50
    job = get(client, f"/labs/lab-a/jobs/{world.ids['job_id']}", text).json()
    assert [(s["name"], s["status"]) for s in job["steps"]] == [("FASTP", "completed"),
                                                                  ("BWA_MEM", "running")]
    assert job["outputs"][0]["name"] == "metadata.json"
    assert job["report"]["status"] == "signed_out" and job["report"]["version"] == 1
    samples = get(client, "/labs/lab-a/samples", text, status="ready").json()
    assert [s["name"] for s in samples["items"]] == [isolation_world.READY_NAME]


@pytest.mark.s3
def test_the_whole_intake_through_the_api_on_real_storage(client, clinician, token_for,
                                                          provisioned_s3, sync_tasks, tmp_path,
                                                          django_capture_on_commit_callbacks):
    from tests.fastq_data import write_fastq_pair

    r1, r2 = write_fastq_pair(tmp_path, "API1", reads=500)
    row, text = token_for(clinician)
    created = post(client, "/labs/lab-a/samples", text, {
        "name": "API1", "external_id": "PSN-API-1", "sex": "female",
        "clinical_indication": "Epilepsy", "hpo_terms": ["HP:0001250"], "consent": True,
        "r1": {"name": r1.name, "size": r1.stat().st_size},
        "r2": {"name": r2.name, "size": r2.stat().st_size}})
    assert created.status_code == 201, created.content
    sample_id = created.json()["sample"]["id"]
    for info, path in zip(created.json()["files"], (r1, r2)):
        base = f"/labs/lab-a/files/{info['id']}/upload"
        started = post(client, base, text, {"name": path.name, "size": path.stat().st_size})
        assert started.status_code == 200, started.content
        plan = started.json()
        sent = []
        data = path.read_bytes()
        for n in range(1, plan["part_count"] + 1):
            signed = post(client, f"{base}/parts/{n}", text).json()
            body = data[(n - 1) * plan["part_size"]:][:signed["size"]]
            put = requests.put(signed["url"], data=body, timeout=30)
            put.raise_for_status()
            sent.append({"part_number": n, "etag": put.headers["ETag"]})
        listed = get(client, f"{base}/parts", text).json()["parts"]
        assert [p["part_number"] for p in listed] == [p["part_number"] for p in sent]
        with django_capture_on_commit_callbacks(execute=True):
            done = post(client, f"{base}/complete", text,
                        {"parts": sent, "sha256": hashlib.sha256(data).hexdigest()})
        assert done.status_code == 200, done.content
        again = post(client, f"{base}/complete", text, {"parts": sent, "sha256": "0" * 64})
        assert again.status_code == 409
    sample = get(client, f"/labs/lab-a/samples/{sample_id}", text).json()
    assert sample["status"] == SampleStatus.READY, sample
    assert {f["status"] for f in sample["files"]} == {FileStatus.VERIFIED}
    events = AuditEvent.objects.filter(details__sample=sample_id, action__startswith="upload.")
    assert events.count() == 4
    assert {e.details["token_id"] for e in events} == {row.prefix}


def test_the_docs_page_uses_the_portals_own_static_files(client):
    response = client.get(API + "/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle" in page and "cdn.jsdelivr" not in page


@pytest.mark.parametrize("text", ["wes_\x00\x00\x00\x00\x00\x00\x00\x00_" + "a" * 43,
                                  "wes_ABCDEF12_" + "a" * 43, "wes_abcdef12_short",
                                  "wes_abcdef12_" + "a" * 43 + "\x00"])
def test_malformed_tokens_are_refused_without_touching_the_database_badly(client, text):
    response = client.get(API + "/labs", HTTP_AUTHORIZATION=f"Bearer {text}")
    assert response.status_code == 401


def test_posts_need_no_csrf_token_even_with_a_session_cookie(manager, clinician, token_for,
                                                             moto_s3):
    from django.test import Client

    world = isolation_world.build(manager=manager, clinician=clinician)
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician.user)
    _, text = token_for(clinician)
    response = post(client, f"/labs/lab-a/samples/{world.ids['ready_sample_id']}/submit", text)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"


def test_every_event_of_an_api_call_names_the_token(client, manager, clinician, token_for,
                                                    moto_s3):
    world = isolation_world.build(manager=manager, clinician=clinician)
    row, text = token_for(clinician)
    first = AuditEvent.objects.latest("id").pk
    calls = [get(client, "/labs", text), get(client, "/labs/lab-a/samples", text),
             get(client, f"/labs/lab-a/samples/{world.ids['sample_id']}", text),
             get(client, "/labs/lab-a/jobs", text),
             get(client, f"/labs/lab-a/jobs/{world.ids['job_id']}", text),
             get(client, f"/labs/lab-a/samples/{world.ids['ready_sample_id']}x", text),
             post(client, f"/labs/lab-a/samples/{world.ids['ready_sample_id']}/submit", text)]
    events = list(AuditEvent.objects.filter(pk__gt=first))
    assert len(events) >= len(calls)
    assert {e.details.get("token_id") for e in events} == {row.prefix}
    assert {e.actor_email for e in events} == {clinician.user.email}
    assert {"sample.list_viewed", "sample.viewed", "job.viewed", "sample.submitted",
            "api.called"} <= {e.action for e in events}


def test_a_body_over_the_size_limit_is_413_not_500(client, clinician, token_for):
    _, text = token_for(clinician)
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        response = post(client, f"/labs/lab-a/files/{clinician.pk}/upload/complete", text,
                        {"parts": [{"part_number": n, "etag": "x" * 40} for n in range(1, 50)],
                         "sha256": "0" * 64})
    assert response.status_code == 413
    assert response.json()["errors"][0]["message"].startswith("The request body is too large")


def test_last_used_is_written_at_most_once_a_minute(client, clinician, token_for):
    row, text = token_for(clinician)
    get(client, "/labs", text)
    row.refresh_from_db()
    first = row.last_used_at
    get(client, "/labs", text)
    row.refresh_from_db()
    assert row.last_used_at == first
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=first - timedelta(minutes=2))
    get(client, "/labs", text)
    row.refresh_from_db()
    assert row.last_used_at > first
