"""The client's address behind the TLS proxy (settings.TRUSTED_PROXY_HOPS), used by the sign-in
rate limits and the audit log alike; and an attacker at one address cannot lock out the
account's owner signing in from another."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from common.client_ip import client_ip
from tenants import audit_actions
from tenants.models import AuditEvent

PASSWORD = "correct-horse-battery-staple"


def request_from(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_a_trusted_proxy_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_HOPS = 0
    assert client_ip(request_from("203.0.113.5", "198.51.100.1")) == "203.0.113.5"


def test_behind_one_proxy_the_address_it_appended_is_the_client(settings):
    settings.TRUSTED_PROXY_HOPS = 1
    # The client wrote "1.2.3.4" itself; the proxy appended the address it saw.
    assert client_ip(request_from("10.0.0.2", "1.2.3.4, 198.51.100.7")) == "198.51.100.7"
    settings.TRUSTED_PROXY_HOPS = 2
    assert client_ip(request_from("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.9")) == \
        "198.51.100.7"


def test_a_request_that_bypassed_the_proxy_or_sent_garbage_falls_back_to_the_peer(settings):
    settings.TRUSTED_PROXY_HOPS = 1
    assert client_ip(request_from("10.0.0.2")) == "10.0.0.2"
    assert client_ip(request_from("10.0.0.2", "not-an-address")) == "10.0.0.2"
    settings.TRUSTED_PROXY_HOPS = 2
    assert client_ip(request_from("10.0.0.2", "198.51.100.7")) == "10.0.0.2"


def sign_in(client, password, remote, forwarded):
    return client.post(reverse("account_login"),
                       {"login": "clinician@lab-a.test", "password": password},
                       REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)


@pytest.mark.django_db
def test_the_audit_log_records_the_address_the_proxy_saw(client, clinician, settings):
    settings.TRUSTED_PROXY_HOPS = 1
    sign_in(client, PASSWORD, "10.0.0.2", "6.6.6.6, 198.51.100.7")
    event = AuditEvent.objects.get(action=audit_actions.LOGIN)
    assert event.ip_address == "198.51.100.7"


@pytest.mark.django_db
def test_a_spoofed_header_does_not_escape_the_per_ip_limit_without_a_proxy(client, clinician,
                                                                           settings):
    settings.TRUSTED_PROXY_HOPS = 0
    for n in range(5):
        sign_in(client, f"guess-{n}", "203.0.113.5", f"198.51.100.{n}")
    page = sign_in(client, PASSWORD, "203.0.113.5", "198.51.100.99").content.decode()
    assert "Too many failed sign-in attempts" in page
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_an_attacker_at_one_address_does_not_lock_out_the_owner_at_another(client, clinician,
                                                                            settings):
    """Behind the proxy every request comes from its address; the header tells them apart."""
    settings.TRUSTED_PROXY_HOPS = 1
    proxy = "10.0.0.2"
    pages = [sign_in(client, f"guess-{n}", proxy, "203.0.113.66").content.decode()
             for n in range(20)]
    assert "Too many failed sign-in attempts" in pages[-1]
    # The attacker's address stays locked out, even with the right password.
    assert "Too many" in sign_in(client, PASSWORD, proxy, "203.0.113.66").content.decode()
    assert "_auth_user_id" not in client.session
    # The owner, from their own address, signs in.
    response = sign_in(client, PASSWORD, proxy, "198.51.100.20")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(clinician.user.pk)
