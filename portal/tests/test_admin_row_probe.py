"""A staff member without a model's permissions cannot tell from the admin whether a row exists:
every row page answers 403 for a real id and a made-up one alike (portal/admin_site.py)."""

import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from jobs.records.tests.test_job_admin import make_job
from tenants.audit import SYSTEM, audit_record
from tenants import audit_actions
from tests.helpers import make_user

ROW_PAGES = ("change", "history", "delete")


def made_up_id(model) -> str:
    return str(uuid.uuid4()) if model._meta.pk.get_internal_type() == "UUIDField" else "987654"


@pytest.fixture
def unprivileged(db):
    return make_user("helpdesk@portal.test", is_staff=True)


def test_no_row_page_tells_a_real_id_from_a_made_up_one(client_for, unprivileged, lab_a):
    job = make_job(lab_a, "PROBED1")
    event = audit_record(actor=SYSTEM, action=audit_actions.LAB_CREATED, lab=lab_a)
    real = {type(job): job.pk, type(job.sample): job.sample.pk, type(event): event.pk,
            type(lab_a): lab_a.pk}
    client = client_for(unprivileged)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model_admin.has_view_or_change_permission(
                type("Request", (), {"user": unprivileged})()):
            continue
        meta = model._meta
        for page in ROW_PAGES:
            name = f"admin:{meta.app_label}_{meta.model_name}_{page}"
            ids = [made_up_id(model)] + ([str(real[model])] if model in real else [])
            for object_id in ids:
                response = client.get(reverse(name, args=[object_id]))
                assert response.status_code == 403, (name, object_id, response.status_code)
                checked += 1
    assert checked >= 3 * len(admin.site._registry) - 3 * 2 and checked > 40


def test_a_staff_member_with_the_view_permission_still_sees_rows_and_missing_ones(
        client_for, unprivileged, lab_a):
    job = make_job(lab_a, "SEEN2")
    unprivileged.user_permissions.add(Permission.objects.get(codename="view_job"))
    client = client_for(unprivileged)
    assert client.get(reverse("admin:jobs_job_change", args=[job.pk])).status_code == 200
    missing = client.get(reverse("admin:jobs_job_change", args=[uuid.uuid4()]))
    assert missing.status_code == 302   # Django's "does not exist" message, for who may look
