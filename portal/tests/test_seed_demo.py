from io import StringIO

from django.core.management import call_command

from tenants.models import Lab, Membership


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_it_creates_a_demo_lab_with_three_users_and_prints_passwords_once(db, client):
    first = seed()
    lab = Lab.objects.get(slug="demo")
    roles = dict(Membership.objects.filter(lab=lab).values_list("user__email", "role"))
    assert roles == {"clinician@demo.lab": "clinician", "manager@demo.lab": "manager"}
    lines = {line.split()[1]: line.split()[2] for line in first.splitlines()
             if line.strip().startswith(("clinician ", "manager ", "staff "))}
    assert set(lines) == {"clinician@demo.lab", "manager@demo.lab", "staff@demo.lab"}

    # The printed password signs the clinician in, and they land in the demo lab.
    response = client.post("/accounts/login/", {"login": "clinician@demo.lab",
                                                "password": lines["clinician@demo.lab"]})
    assert response.status_code == 302
    assert client.get("/labs/", follow=True).request["PATH_INFO"] == "/labs/demo/"

    second = seed()
    assert "already exist" in second
    assert lines["clinician@demo.lab"] not in second
    assert Lab.objects.filter(slug="demo").count() == 1


def test_it_resets_demo_passwords_on_request(db, client):
    seed()
    out = StringIO()
    call_command("seed_demo", "--reset-passwords", stdout=out)
    new = {line.split()[1]: line.split()[2] for line in out.getvalue().splitlines()
           if line.strip().startswith(("clinician ", "manager ", "staff "))}
    assert set(new) == {"clinician@demo.lab", "manager@demo.lab", "staff@demo.lab"}
    response = client.post("/accounts/login/", {"login": "manager@demo.lab",
                                                "password": new["manager@demo.lab"]})
    assert response.status_code == 302
