"""An expected refusal logs one line, not a traceback; a server error keeps its traceback."""

import logging

import pytest
from django.core.exceptions import PermissionDenied

pytestmark = pytest.mark.django_db


def console_lines(records) -> str:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(r) for r in records if r.name == "django.request")


def test_a_403_is_one_line_with_its_reason(client_for, clinician, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client_for(clinician).get("/labs/lab-a/reviews/")
    assert response.status_code == 403
    text = console_lines(caplog.records)
    assert text.startswith("WARNING django.request Forbidden (Permission denied): /labs/lab-a/reviews/ (")
    assert "Traceback" not in text and len(text.splitlines()) == 1


def test_a_500_keeps_its_traceback(rf, caplog):
    from django.core.handlers.exception import response_for_exception

    request = rf.get("/boom/")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        try:
            raise RuntimeError("boom")
        except RuntimeError as exc:
            response_for_exception(request, exc)
    assert "Traceback" in console_lines(caplog.records)


def test_a_reasonless_refusal_is_one_line_too(rf, caplog):
    from django.core.handlers.exception import response_for_exception

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response_for_exception(rf.get("/x/"), PermissionDenied())
    assert console_lines(caplog.records) == "WARNING django.request Forbidden (Permission denied): /x/"
