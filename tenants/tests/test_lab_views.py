import pytest
from django.urls import reverse

from tests.helpers import make_user
from tenants.services import lab_create, membership_add


def lab_url(lab_slug, name="tenants:lab_home"):
    return reverse(name, args=[lab_slug])


def test_it_shows_the_lab_to_its_members(client_for, clinician):
    response = client_for(clinician).get(lab_url("lab-a"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Lab A Genomics" in page and "clinician of this lab" in page


def test_it_answers_404_to_an_outsider_exactly_as_for_a_lab_that_does_not_exist(client_for,
                                                                                 outsider, lab_a):
    client = client_for(outsider)
    other_lab = client.get(lab_url("lab-a"))
    no_lab = client.get(lab_url("no-such-lab"))
    assert other_lab.status_code == no_lab.status_code == 404
    assert other_lab.content == no_lab.content
    assert "Lab A" not in other_lab.content.decode()


def test_it_sends_anonymous_visitors_to_sign_in(client, lab_a):
    response = client.get(lab_url("lab-a"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_it_opens_the_only_lab_directly(client_for, clinician):
    response = client_for(clinician).get(reverse("tenants:lab_picker"))
    assert response.status_code == 302 and response.url == lab_url("lab-a")


def test_it_lets_a_member_of_several_labs_pick_one(client_for, clinician, lab_b):
    membership_add(lab=lab_b, user=clinician.user, role="manager")
    client = client_for(clinician)
    response = client.get(reverse("tenants:lab_picker"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Lab A Genomics" in page and "Lab B Diagnostics" in page
    assert client.get(lab_url("lab-b")).status_code == 200


def test_it_tells_a_user_without_a_lab_how_to_get_one(client_for, db):
    lonely = make_user("lonely@example.test")
    lab_create(slug="lab-c", name="Lab C")
    page = client_for(lonely).get(reverse("tenants:lab_picker")).content.decode()
    assert "not a member of any lab" in page and "Lab C" not in page


def test_it_points_staff_without_a_lab_to_the_admin(client_for, db):
    # Staff land here after their first sign-in; "ask your lab manager" was the wrong advice.
    ops = make_user("ops@portal.test", is_staff=True)
    page = client_for(ops).get(reverse("tenants:lab_picker")).content.decode()
    assert "data-staff-hint" in page and 'href="/admin/"' in page
    assert "ask yours to invite" not in page


@pytest.mark.parametrize("slug", ["UPPER", "a" * 60, "../lab-a", "lab_a"])
def test_it_answers_404_for_malformed_slugs(client_for, clinician, slug):
    assert client_for(clinician).get(f"/labs/{slug}/").status_code == 404
