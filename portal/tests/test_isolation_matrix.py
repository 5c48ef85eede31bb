"""Tenant isolation, URL by URL (issue 14): every pattern `get_resolver()` knows × five personas ×
the methods its view accepts, filled with real ids of lab A's objects.

ROLE_TABLE classifies every pattern once (by URL name, or by route for unnamed ones): what each
persona gets per method, or why the pattern is left out. A pattern the table does not know fails
the build, naming it: a new URL is classified before it ships. Personas: anonymous; a clinician
and a manager of lab B; lab A's clinician (the owning lab, read-and-write but not a manager);
staff without any permission. The other lab's members and staff are "foreign": on lab pages they
get the same 404 as for ids that do not exist (checked with random ids), never a 500, and no
response to them holds lab A's sample names or ids."""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from tests.helpers import give_totp, make_user
from portal.tests import isolation_world

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "b_clinician", "b_manager", "a_clinician", "staff")
FOREIGN = ("b_clinician", "b_manager", "staff")
LOGIN = "login"              # 302 to /accounts/login/?next=...
ADMIN_LOGIN = "admin_login"  # 302 to /admin/login/?next=...


@dataclass(frozen=True)
class Rule:
    expect: dict = field(default_factory=dict)    # persona -> {method: status}
    ids: dict = field(default_factory=dict)       # URL kwarg -> key of World.ids, or a value
    lab_scoped: bool = False                      # ids in the URL: compare with random ones
    excluded: str = ""                            # why the pattern is not in the matrix
    names_lab: bool = False                       # may name lab A (an invitation link does)
    api: bool = False                             # /api/v1/: API_PERSONAS, token auth
    bodies: dict = field(default_factory=dict)    # API: method -> JSON body sent


def lab_page(ids=None, **a_clinician: int) -> Rule:
    """A page under /labs/<slug>/: sign-in first, then 404 to anyone not in lab A (staff too)."""
    methods = list(a_clinician)
    return Rule(expect={"anonymous": dict.fromkeys(methods, LOGIN),
                        **{p: dict.fromkeys(methods, 404) for p in FOREIGN},
                        "a_clinician": a_clinician}, ids=ids or {}, lab_scoped=True)


def signed_in_page(**status: int) -> Rule:
    """Not about a lab: sign-in first, then the same answer for every signed-in persona."""
    return Rule(expect={"anonymous": dict.fromkeys(status, LOGIN),
                        **{p: dict(status) for p in PERSONAS if p != "anonymous"}})


def admin_page(ids=None, **staff: int) -> Rule:
    """The admin: everyone but staff is sent to the admin's sign-in; staff without permissions
    get what `staff` says (403 where a permission is needed)."""
    methods = list(staff)
    return Rule(expect={**{p: dict.fromkeys(methods, ADMIN_LOGIN) for p in PERSONAS
                           if p != "staff"}, "staff": staff}, ids=ids or {})


def public(**status) -> Rule:
    return Rule(expect={p: dict(status) for p in PERSONAS})


def excluded(why: str, ids=None) -> Rule:
    return Rule(excluded=why, ids=ids or {})


# --- API (issue 16): /api/v1/ is answered by token only (portal/api/) ---
# Personas: no token at all; lab A's clinician's browser session without a token (a cookie is no
# credential); lab B's manager's upload token; lab A's clinician's read and upload tokens.
API_PERSONAS = ("anonymous", "a_session", "b_token", "a_read_token", "a_upload_token")
API_FOREIGN = "b_token"


def api_route(ids=None, bodies=None, writes=(), **a_upload) -> Rule:
    """/api/v1/labs/<lab>/...: 401 without a token; lab B's token gets 404 for lab A's lab and
    ids (as for ids that exist nowhere); lab A's read token 403 for `writes`, else as the upload
    token, whose answers `a_upload` gives."""
    return Rule(api=True, lab_scoped=True, ids={"lab": "lab_slug", **(ids or {})},
                bodies=bodies or {}, expect={
                    "anonymous": dict.fromkeys(a_upload, 401),
                    "a_session": dict.fromkeys(a_upload, 401),
                    API_FOREIGN: dict.fromkeys(a_upload, 404),
                    "a_read_token": {m: 403 if m in writes else status
                                     for m, status in a_upload.items()},
                    "a_upload_token": a_upload})


def api_public(**status) -> Rule:
    return Rule(api=True, expect={p: dict(status) for p in API_PERSONAS})


API_ROWS: dict[str, Rule] = {
    "api-v1:openapi-json": api_public(GET=200),
    "api-v1:openapi-view": api_public(GET=200),
    "api-v1:api-root": api_public(GET=404),
    "api-v1:labs": Rule(api=True, expect={
        "anonymous": {"GET": 401}, "a_session": {"GET": 401}, API_FOREIGN: {"GET": 200},
        "a_read_token": {"GET": 200}, "a_upload_token": {"GET": 200}}),
    "api-v1:samples": api_route(GET=200),
    "api-v1:sample_create": api_route(bodies={"POST": {
        "name": "MTXAPI3", "external_id": "PSN-MTX-API-43", "sex": "female",
        "clinical_indication": "Ataxia", "hpo_terms": [], "consent": True,
        "r1": {"name": "MTXAPI3_R1.fastq.gz", "size": 100},
        "r2": {"name": "MTXAPI3_R2.fastq.gz", "size": 100}}}, POST=201, writes=("POST",)),
    "api-v1:sample": api_route(GET=200),
    "api-v1:sample_submit": api_route({"sample_id": "ready_sample_id"}, POST=202,
                                      writes=("POST",)),
    "api-v1:upload": api_route(bodies={"POST": {"name": "x.fastq.gz", "size": 1}},
                               POST=409, writes=("POST",)),
    "api-v1:upload_cancel": api_route(DELETE=409, writes=("DELETE",)),
    "api-v1:upload_parts": api_route(GET=409),
    "api-v1:upload_sign_part": api_route(POST=409, writes=("POST",)),
    "api-v1:upload_complete": api_route(bodies={"POST": {"parts": [], "sha256": "0" * 64}},
                                        POST=409, writes=("POST",)),
    "api-v1:jobs": api_route(GET=200),
    "api-v1:job": api_route(GET=200),
    "api-v1:output_download": api_route(bodies={"POST": {"reason": "lab_review"}}, POST=200),
    "api-v1:report_download": api_route(bodies={"POST": {"reason": "clinical_care"}},
                                        POST=200),
}


# Every ModelAdmin's standard pages, and the object each change/delete/history URL names: a
# World.ids key, or None for tables the world leaves empty. Staff without permissions get 403
# from every row page, for an object that exists and a missing one alike (portal/admin_site.py:
# Django's history page would answer "does not exist" for a missing one before it checks).
ADMIN_MODELS = {
    "auth_group": "group_pk", "account_emailaddress": "emailaddress_pk",
    "mfa_authenticator": "authenticator_pk", "usersessions_usersession": None,
    "django_q_schedule": "schedule_pk", "django_q_success": None, "django_q_failure": None,
    "django_q_ormq": None, "auth_user": "user_pk", "tenants_lab": "lab_pk",
    "tenants_membership": "member_id", "tenants_invitation": "invitation_id",
    "tenants_auditevent": "auditevent_pk", "tenants_auditexport": None,
    "wes_storage_storedobject": None, "jobs_sample": "sample_id",
    "jobs_reconciliationrun": None, "jobs_jobusage": None, "jobs_job": "job_id",
}
# --- storage scrub: its runs and findings (storage/admin.py), read-only ---
ADMIN_MODELS.update({"wes_storage_scrubrun": None, "wes_storage_scrubfinding": None})


def admin_model_rules() -> dict[str, Rule]:
    rules = {}
    for model, object_key in ADMIN_MODELS.items():
        ids = {"object_id": object_key or "1"}
        rules[f"admin:{model}_changelist"] = admin_page(GET=403, POST=403)
        rules[f"admin:{model}_add"] = admin_page(GET=403, POST=403)
        rules[f"admin:{model}_change"] = admin_page(ids, GET=403, POST=403)
        rules[f"admin:{model}_delete"] = admin_page(ids, GET=403, POST=403)
        rules[f"admin:{model}_history"] = admin_page(ids, GET=403)
    return rules


def admin_model_redirects() -> dict[str, Rule]:
    """Each ModelAdmin's unnamed `admin/<app>/<model>/<object_id>/`: a redirect to the change
    page, for staff whatever their permissions."""
    return {reverse(f"admin:{model}_changelist").lstrip("/") + "<path:object_id>/":
            admin_page({"object_id": "1"}, GET=302) for model in ADMIN_MODELS}


ALLAUTH = "allauth's own sign-in, account and two-factor pages (tested by allauth and "\
          "tenants/tests/test_first_login.py); they hold no lab data"

ROLE_TABLE: dict[str, Rule] = {
    # portal
    "home": Rule(expect={"anonymous": {"GET": LOGIN},
                         **{p: {"GET": "302 -> /labs/"} for p in PERSONAS if p != "anonymous"}}),
    # The probe's verdict depends on the test's storage (moto has no buckets): either answer;
    # details for staff only (portal/tests/test_healthz.py).
    "healthz": public(GET=(200, 503)),
    # Prometheus only: WES_METRICS_ALLOWED_IPS or the WES_METRICS_TOKEN bearer (none in the
    # matrix), everyone else the ordinary 404 (portal/tests/test_metrics.py).
    "metrics": public(GET=404, POST=404),
    "favicon.ico": public(GET=301),
    # staff pages outside the admin's models
    "admin_usage": admin_page(GET=403),
    "admin_usage_csv": admin_page(GET=403),
    "admin_storage_dashboard": admin_page(GET=403, POST=403),
    "admin_retention": admin_page(GET=403, POST=403),
    "admin:index": admin_page(GET=200),
    "admin:login": excluded("the admin's sign-in, handed to allauth (portal/urls.py)"),
    "admin:logout": excluded("signs the client out; Django's own view"),
    "admin:password_change": admin_page(GET=200),
    "admin:password_change_done": admin_page(GET=200),
    "admin:autocomplete": admin_page(GET=403),
    "admin:jsi18n": admin_page(GET=200),
    # No model has get_absolute_url: "no URL" for staff, whoever's the object.
    "admin:view_on_site": admin_page({"content_type_id": "sample_ct", "object_id": "sample_id"},
                                     GET=404),
    "admin:app_list": admin_page({"app_label": "jobs"}, GET=404),
    "admin/(?P<url>.*)$": admin_page({"url": "no-such-page/"}, GET=404),
    "admin:auth_user_password_change": admin_page({"id": "user_pk"}, GET=403, POST=403),
    "admin:tenants_auditevent_export": admin_page(POST=403),
    "admin:tenants_auditevent_verify": admin_page(POST=403),
    **admin_model_rules(),
    **admin_model_redirects(),
    # allauth
    **{name: excluded(ALLAUTH) for name in (
        "account_login", "account_logout", "account_inactive", "account_signup",
        "account_reauthenticate", "account_request_reauthentication_code",
        "account_confirm_reauthentication_code", "account_email",
        "account_email_verification_sent", "account_change_password", "account_set_password",
        "account_reset_password", "account_confirm_login_code",
        "account_reset_password_from_key_done", "account_reset_password_done", "mfa_index",
        "mfa_authenticate", "mfa_reauthenticate", "mfa_activate_totp", "mfa_deactivate_totp",
        "mfa_view_recovery_codes", "mfa_generate_recovery_codes", "mfa_download_recovery_codes",
        "usersessions_list")},
    "account_confirm_email": excluded(ALLAUTH, {"key": "no-such-key"}),
    "account_reset_password_from_key": excluded(ALLAUTH, {"uidb36": "1", "key": "no-such-key"}),
    # tenants
    # One lab: straight to it; staff in no lab see the empty picker.
    "tenants:lab_picker": Rule(expect={
        "anonymous": {"GET": LOGIN}, "b_clinician": {"GET": "302 -> /labs/lab-b/"},
        "b_manager": {"GET": "302 -> /labs/lab-b/"}, "a_clinician": {"GET": "302 -> /labs/lab-a/"},
        "staff": {"GET": 200}}),
    "tenants:sessions": signed_in_page(GET=200, POST=302),
    # A bearer link: whoever holds the token sees which lab invites whom (the email sent it);
    # joining needs the invited address.
    "tenants:invitation_accept": Rule(names_lab=True, expect={
        "anonymous": {"GET": 302, "POST": 302},
        **{p: {"GET": 200, "POST": 400} for p in PERSONAS if p != "anonymous"}}),
    "tenants:lab_home": lab_page(GET=200),
    "tenants:members": lab_page(GET=200),
    "tenants:notification_settings": lab_page(GET=200, POST=302),
    "tenants:member_invite": lab_page(GET=403, POST=403),
    "tenants:member_remove": lab_page(POST=403),
    "tenants:invitation_revoke": lab_page(POST=403),
    # API tokens (issue 16): one's own on the profile page, a lab's for its managers
    "tenants:api_tokens": signed_in_page(GET=200, POST=400),
    "tenants:api_token_revoke": Rule(ids={"token_id": "api_token_id"}, lab_scoped=True, expect={
        "anonymous": {"POST": LOGIN}, **{p: {"POST": 404} for p in FOREIGN},
        "a_clinician": {"POST": 302}}),
    "tenants:lab_api_tokens": lab_page(GET=403),
    "tenants:lab_api_token_revoke": lab_page({"token_id": "api_token_id"}, POST=403),
    # jobs: reports
    "jobs:review_queue": lab_page(GET=403),
    "jobs:report_detail": lab_page(GET=200),
    "jobs:report_sign": lab_page(POST=403),
    "jobs:report_amend": lab_page(POST=403),
    "jobs:report_draft": lab_page(POST=403),
    "jobs:report_download_signed": lab_page(GET=200, POST=400),
    "jobs:report_download_draft": lab_page(GET=403, POST=403),
    # jobs: results and runs
    "jobs:job_detail": lab_page(GET=200),
    "jobs:job_cancel": lab_page(POST=302),
    "jobs:job_retry": lab_page(POST=403),
    "jobs:output_download": lab_page(GET=200, POST=400),
    # jobs: review (managers only)
    "jobs:variants": lab_page(GET=403),
    "jobs:variant_detail": lab_page(GET=403),
    "jobs:variant_classify": lab_page(POST=403),
    "jobs:variant_suggest": lab_page(GET=403),
    "jobs:variant_select": lab_page(POST=403),
    "jobs:panel_list": lab_page(GET=403, POST=403),
    "jobs:panel_detail": lab_page(GET=403, POST=403),
    "jobs:preset_save": lab_page(POST=403),
    "jobs:preset_delete": lab_page(POST=403),
    # jobs: intake
    "jobs:sample_list": lab_page(GET=200),
    "jobs:sample_new": lab_page(GET=200, POST=400),
    "jobs:sample_sheet": lab_page(GET=200, POST=400),
    "jobs:sample_detail": lab_page(GET=200),
    "jobs:sample_status": lab_page(GET=200),
    "jobs:sample_submit": lab_page({"sample_id": "ready_sample_id"}, POST=302),
    "jobs:sample_reanalyse": lab_page(POST=403),
    "jobs:upload": lab_page({"sample_id": "ready_sample_id"}, POST=400, DELETE=409),
    "jobs:upload_parts": lab_page({"sample_id": "ready_sample_id"}, GET=409),
    "jobs:upload_sign_part": lab_page({"sample_id": "ready_sample_id"}, POST=409),
    "jobs:upload_complete": lab_page({"sample_id": "ready_sample_id"}, POST=400),
    **API_ROWS,
}


def walk(patterns, prefix="", namespace=None):
    """(key, route, pattern) for every leaf of the URLconf, through includes."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace and (f"{namespace}:{entry.namespace}" if namespace
                                      else entry.namespace) or namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield name or route, route, entry


def test_it_classifies_every_url_pattern():
    keys = {key for key, _, _ in walk(get_resolver().url_patterns)}
    missing = sorted(keys - ROLE_TABLE.keys())
    assert not missing, ("URL patterns missing from ROLE_TABLE in "
                         f"portal/tests/test_isolation_matrix.py: {missing}")
    stale = sorted(ROLE_TABLE.keys() - keys)
    assert not stale, f"ROLE_TABLE names patterns the project no longer has: {stale}"


def decorator_value(view, name: str):
    """A variable a decorator closed over (`request_method_list` of `require_http_methods`,
    `manager_only` of `lab_view`), found down the `__wrapped__` chain; None if none has it."""
    while view is not None:
        code = getattr(view, "__code__", None)
        if code is not None and name in code.co_freevars:
            return view.__closure__[code.co_freevars.index(name)].cell_contents
        view = getattr(view, "__wrapped__", None)
    return None


def accepted_methods(view) -> set[str] | None:
    methods = decorator_value(view, "request_method_list")
    return None if methods is None else set(methods)


def test_it_sends_every_method_each_view_accepts():
    """The table's methods are the view's own: a POST added to a GET page is classified too."""
    wrong = []
    for key, _, pattern in walk(get_resolver().url_patterns):
        rule, accepted = ROLE_TABLE.get(key), accepted_methods(pattern.callback)
        if rule is None or rule.excluded or accepted is None:
            continue
        listed = {method for by_method in rule.expect.values() for method in by_method}
        if listed != accepted:
            wrong.append(f"{key}: the view accepts {sorted(accepted)}, the table has "
                         f"{sorted(listed)}")
    assert not wrong, "\n".join(wrong)


@pytest.fixture
def world(moto_s3, manager, clinician, outsider, lab_b):
    from allauth.account.models import EmailAddress
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from django_q.models import Schedule

    from jobs.models import Sample
    from tenants.models import AuditEvent
    from tenants.api_tokens import token_create
    from tenants.services import membership_add

    built = isolation_world.build(manager=manager, clinician=clinician)
    b_clinician = membership_add(lab=lab_b, user=make_user("clinician@lab-b.test"),
                                 role="clinician")
    staff = make_user("staff@portal.test", is_staff=True)
    for user in (manager.user, outsider.user, staff):
        give_totp(user)
    built.ids.update(
        group_pk=Group.objects.create(name="operations").pk,
        emailaddress_pk=EmailAddress.objects.get(user=clinician.user).pk,
        authenticator_pk=manager.user.authenticator_set.get().pk, user_pk=clinician.user.pk,
        lab_pk=clinician.lab.pk, schedule_pk=Schedule.objects.create(  # transactional tests flush the migrations' rows
            name="isolation matrix", func="jobs.tasks.reconcile_storage",
            schedule_type=Schedule.DAILY).pk,
        auditevent_pk=AuditEvent.objects.filter(lab=clinician.lab).latest("id").pk,
        sample_ct=ContentType.objects.get_for_model(Sample).pk,
        api_token_id=str(token_create(membership=clinician, name="matrix", days=1,
                                      scope="read")[0].pk))
    built.users = {"anonymous": None, "b_clinician": b_clinician.user,
                   "b_manager": outsider.user, "a_clinician": clinician.user, "staff": staff}
    return built


ARG = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def url_for(route: str, values: dict) -> str:
    path = ARG.sub(lambda m: str(values[m.group(1) or m.group(2)]), route)
    return "/" + path.replace("^", "").replace("$", "")


def route_kwargs(route: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in ARG.finditer(route)]


def random_value(kwarg: str, real):
    if kwarg == "lab_slug":
        return "no-such-lab"
    if isinstance(real, int):
        return random.randint(10**8, 10**9)
    return str(uuid.uuid4())


class ServerError(Exception):
    """A view raised: the request would have been a 500."""


def send(client: Client, method: str, url: str):
    try:
        if method == "GET":
            return client.get(url)
        if method == "POST":
            return client.post(url, {})
        return client.generic(method, url)
    except Exception as exc:
        raise ServerError(f"{method} {url} raised {exc!r} (a 500)") from exc


def outcome(response) -> str:
    if response.status_code in (301, 302):
        return f"{response.status_code} -> {response['Location']}"
    return str(response.status_code)


def matches(response, expected) -> bool:
    if expected == LOGIN:
        return response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    if expected == ADMIN_LOGIN:
        return response.status_code == 302 and response["Location"].startswith("/admin/login/")
    if isinstance(expected, tuple):
        return response.status_code in expected
    if isinstance(expected, str):
        return outcome(response) == expected
    return response.status_code == expected


CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=|"csrfToken": ?|csrf-token" content=)"[^"]+"')


def shape(response, values) -> str:
    """The body with the URL's own ids and the per-request CSRF token blanked out."""
    body = response.content.decode(errors="replace")
    for value in values:
        body = body.replace(str(value), "<id>")
    return f"{response.status_code} {response.get('Content-Type')} " + CSRF.sub("<csrf>", body)


OTHER_LAB = ("b_clinician", "b_manager")


def leaks(world, response, rule: Rule) -> list[str]:
    body = response.content.decode(errors="replace")
    return [name for name, value in world.markers.items()
            if value in body and not (rule.names_lab and name == "lab name")]


def owner_missing_probe(client, route, values, method, *, where, managers_only) -> list[str]:
    """Ids that exist nowhere, in lab A's own address: 404 for its member too (403 first where
    `lab_view(manager_only=True)` guards the page), as lab B gets for lab A's ids."""
    fake = {k: (v if k == "lab_slug" else random_value(k, v)) for k, v in values.items()}
    response = send(client, method, url_for(route, fake))
    wanted = 403 if managers_only else 404
    if response.status_code != wanted:
        return [f"{where}, with ids that do not exist: expected {wanted}, got {outcome(response)}"]
    return []


def own_lab_probe(client, world, route, values, method, *, persona, managers_only,
                  where) -> list[str]:
    """Lab A's ids under the member's own lab's address (/labs/lab-b/...): the same answer as
    ids that exist nowhere: 404 (403 first for a clinician where the page is for managers)."""
    own = {**values, "lab_slug": "lab-b"}
    fake = {k: (v if k == "lab_slug" else random_value(k, v)) for k, v in own.items()}
    foreign, missing = send(client, method, url_for(route, own)), send(client, method,
                                                                     url_for(route, fake))
    problems = []
    wanted = 403 if managers_only and persona == "b_clinician" else 404
    if foreign.status_code != wanted:
        problems.append(f"{where}: lab A's ids answer {outcome(foreign)}, not {wanted}")
    ids = [*own.values(), *fake.values()]
    if shape(foreign, ids) != shape(missing, ids):
        problems.append(f"{where}: lab A's ids answer otherwise than missing ones "
                        f"({outcome(foreign)} vs {outcome(missing)})")
    if leaked := leaks(world, foreign, Rule()):
        problems.append(f"{where}: the response shows lab A's {leaked}")
    return problems


def clients(world) -> dict[str, Client]:
    signed_in = {}
    for persona, user in world.users.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        signed_in[persona] = client
    return signed_in


def check_pattern(world, by_persona, key, route, pattern, rule, counts) -> list[str]:
    failures = []
    values = {kwarg: world.ids.get(rule.ids.get(kwarg, kwarg), rule.ids.get(kwarg))
              for kwarg in route_kwargs(route)}
    url = url_for(route, values)
    if resolve(url).func is not pattern.callback:
        return [f"{key}: {url}, built from its route, reaches another view"]
    managers_only = bool(decorator_value(pattern.callback, "manager_only"))
    if rule.excluded:
        for persona, client in by_persona.items():
            response = send(client, "GET", url)
            if response.status_code >= 500:
                failures.append(f"{key} GET {url} as {persona}: a server error")
            if persona != "a_clinician" and (leaked := leaks(world, response, rule)):
                failures.append(f"{key} GET {url} as {persona}: the response shows lab A's "
                                f"{leaked}")
        return failures
    for persona in (*FOREIGN, "anonymous", "a_clinician"):
        for method, expected in rule.expect[persona].items():
            counts["cells"] += 1
            response = send(by_persona[persona], method, url)
            where = f"{key} {method} {url} as {persona}"
            if not matches(response, expected):
                failures.append(f"{where}: expected {expected}, got {outcome(response)}")
            if persona == "a_clinician":
                if rule.lab_scoped and set(values) - {"lab_slug"}:
                    counts["probes"] += 1
                    failures += owner_missing_probe(by_persona[persona], route, values, method,
                                                    where=where, managers_only=managers_only)
                body = response.content.decode(errors="replace")
                counts["seen"].update(name for name, value in world.markers.items()
                                      if value in body)
                continue
            if leaked := leaks(world, response, rule):
                failures.append(f"{where}: the response shows lab A's {leaked}")
            if rule.lab_scoped and persona in FOREIGN and values:
                counts["probes"] += 1
                fake = {k: random_value(k, v) for k, v in values.items()}
                missing = send(by_persona[persona], method, url_for(route, fake))
                ids = [*values.values(), *fake.values()]
                if shape(missing, ids) != shape(response, ids):
                    failures.append(f"{where}: answers otherwise than for missing ids "
                                    f"({outcome(response)} vs {outcome(missing)})")
            if rule.lab_scoped and persona in OTHER_LAB and set(values) - {"lab_slug"}:
                counts["probes"] += 2
                failures += own_lab_probe(by_persona[persona], world, route, values, method,
                                          persona=persona, managers_only=managers_only,
                                          where=f"{key} {method} as {persona} in lab B")
    return failures


def test_it_answers_every_url_as_the_role_table_says(world):
    failures, counts = [], {"cells": 0, "probes": 0, "seen": set()}
    # One session per persona throughout: no request in the table signs its client out (sign-out
    # pages are excluded, and only GET is sent to those).
    by_persona = clients(world)
    for key, route, pattern in walk(get_resolver().url_patterns):
        if (rule := ROLE_TABLE.get(key)) is None or rule.api:
            continue    # test_it_classifies_every_url_pattern names it; the API's test below
        try:
            failures += check_pattern(world, by_persona, key, route, pattern, rule, counts)
        except ServerError as exc:
            failures.append(f"{key}: {exc}")
    print(f"isolation matrix: {counts['cells']} cells (URL x persona x method), "
          f"{counts['probes']} more requests with random ids or the other lab's address")
    assert not failures, "\n".join(failures)
    # The leak check looks for what lab A's own pages do show (a file's id only appears in the
    # upload API's answer to a started upload, which a verified file never gets).
    assert sorted(world.markers.keys() - counts["seen"]) == ["file id"]


# --- API (issue 16) ---
def api_send(client: Client, method: str, url: str, token: str | None, body: dict | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    try:
        return client.generic(method, url, json.dumps(body or {}) if method != "GET" else "",
                              content_type="application/json", **headers)
    except Exception as exc:
        raise ServerError(f"{method} {url} raised {exc!r} (a 500)") from exc


def api_random_value(kwarg: str, real):
    if kwarg == "part_number":    # a number, not an id: the same in range
        return real
    return "no-such-lab" if kwarg == "lab" else random_value(kwarg, real)


def check_api_route(world, key, route, rule, clients_and_tokens, counts) -> list[str]:
    failures = []
    values = {kwarg: world.ids.get(rule.ids.get(kwarg, kwarg), rule.ids.get(kwarg))
              for kwarg in route_kwargs(route)}
    url = url_for(route, values)
    for persona in (API_FOREIGN, "anonymous", "a_session", "a_read_token", "a_upload_token"):
        client, token = clients_and_tokens[persona]
        for method, expected in rule.expect[persona].items():
            counts["cells"] += 1
            body = rule.bodies.get(method)
            response = api_send(client, method, url, token, body)
            where = f"{key} {method} {url} as {persona}"
            if response.status_code != expected:
                failures.append(f"{where}: expected {expected}, got {outcome(response)} "
                                f"{response.content[:300]!r}")
            if response.status_code >= 400 and not (
                    response.status_code == 404 and "api-root" in key):
                errors = response.json().get("errors") if response.get(
                    "Content-Type", "").startswith("application/json") else None
                if not (isinstance(errors, list) and errors and "message" in errors[0]):
                    failures.append(f"{where}: not the error shape: {response.content[:200]!r}")
            if persona.startswith("a_") and persona != "a_session":
                continue
            if leaked := leaks(world, response, rule):
                failures.append(f"{where}: the response shows lab A's {leaked}")
            if persona == API_FOREIGN and rule.lab_scoped and set(values) - {"lab"}:
                fake = {k: api_random_value(k, v) for k, v in values.items()}
                own = {**values, "lab": "lab-b"}
                own_fake = {**fake, "lab": "lab-b"}
                ids = [*values.values(), *fake.values(), "lab-b"]
                for label, real_url, fake_url in (("lab A's address", url, url_for(route, fake)),
                                                  ("its own lab's address", url_for(route, own),
                                                   url_for(route, own_fake))):
                    counts["probes"] += 2
                    real = api_send(client, method, real_url, token, body)
                    missing = api_send(client, method, fake_url, token, body)
                    if real.status_code != 404 or shape(real, ids) != shape(missing, ids):
                        failures.append(f"{where}, {label}: lab A's ids answer "
                                        f"{outcome(real)}, ids that exist nowhere "
                                        f"{outcome(missing)}")
    return failures


def test_the_api_answers_every_route_as_the_role_table_says(world, outsider):
    """Every /api/v1/ route x token persona x method. Lab B's token gets for lab A's lab and ids
    exactly what it gets for ones that do not exist (404), under lab A's slug and its own."""
    from jobs.models import JobOutput, Report
    from storage import s3
    from storage.buckets import bucket_name
    from tenants.api_tokens import token_create

    clinician = world.users["a_clinician"].memberships.get()
    s3.create_bucket(bucket_name("results"))
    output = JobOutput.objects.get(pk=world.ids["output_id"])
    s3.put_bytes(bucket_name("results"), output.key, b"{}", content_type="application/json")
    report = Report.objects.get(pk=world.ids["report_id"])
    s3.put_bytes(bucket_name("results"), report.signed_key, b"%PDF",
                 content_type="application/pdf")
    session = Client()
    session.force_login(clinician.user)
    tokens = {
        "anonymous": (Client(), None), "a_session": (session, None),
        API_FOREIGN: (Client(), token_create(membership=outsider, name="b", days=1,
                                             scope="upload")[1]),
        "a_read_token": (Client(), token_create(membership=clinician, name="r", days=1,
                                                scope="read")[1]),
        "a_upload_token": (Client(), token_create(membership=clinician, name="u", days=1,
                                                  scope="upload")[1]),
    }
    failures, counts = [], {"cells": 0, "probes": 0}
    for key, route, pattern in walk(get_resolver().url_patterns):
        rule = ROLE_TABLE.get(key)
        if rule is None or not rule.api:
            continue
        try:
            failures += check_api_route(world, key, route, rule, tokens, counts)
        except ServerError as exc:
            failures.append(f"{key}: {exc}")
    print(f"API isolation matrix: {counts['cells']} cells, {counts['probes']} probes")
    assert counts["cells"] >= 5 * len(API_ROWS)
    assert not failures, "\n".join(failures)
