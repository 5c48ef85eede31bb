"""The build fails when a view reaches lab data without going through the access helpers
(in the spirit of zulip's semgrep rule against unscoped queries)."""

import ast
from pathlib import Path

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parents[2]
APPS_WITH_VIEWS = ["portal", "tenants", "storage", "jobs"]


def lab_owned_model_names() -> set[str]:
    names = set()
    for model in apps.get_models():
        field_names = {f.name for f in model._meta.get_fields()}
        if "lab" in field_names or model._meta.label == "tenants.Lab":
            names.add(model.__name__)
    return names


def unscoped_queries(source: str, models: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        # Model.objects... in a view
        if (isinstance(node, ast.Attribute) and node.attr in {"objects", "_default_manager"}
                and isinstance(node.value, ast.Name) and node.value.id in models):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        # get_object_or_404(Model, ...) / get_list_or_404(Model, ...)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in {"get_object_or_404", "get_list_or_404"} and node.args
                and isinstance(node.args[0], ast.Name) and node.args[0].id in models):
            found.append(f"line {node.lineno}: {node.func.id}({node.args[0].id}, ...)")
    return found


def test_it_finds_the_lab_owned_models():
    assert {"Lab", "Membership", "Invitation"} <= lab_owned_model_names()


def test_the_rule_catches_an_unscoped_query():
    bad = "def view(request, pk):\n    return Membership.objects.get(pk=pk)\n"
    assert unscoped_queries(bad, {"Membership"}) == ["line 2: Membership.objects"]
    bad404 = "def view(request, pk):\n    return get_object_or_404(Invitation, pk=pk)\n"
    assert unscoped_queries(bad404, {"Invitation"}) == ["line 2: get_object_or_404(Invitation, ...)"]


def test_views_never_query_lab_owned_models_directly():
    models = lab_owned_model_names()
    offences, read = {}, []
    for app in APPS_WITH_VIEWS:
        for path in (ROOT / app).rglob("views*.py"):
            read.append(str(path.relative_to(ROOT)))
            found = unscoped_queries(path.read_text(), models)
            if found:
                offences[str(path.relative_to(ROOT))] = found
    assert {"jobs/intake/views.py", "jobs/runs/views.py", "jobs/results/views.py",
            "jobs/reports/views.py", "tenants/views.py"} <= set(read)
    assert offences == {}, "use the helpers in */access.py instead: " + repr(offences)


def iter_patterns(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from iter_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_every_url_with_a_lab_resolves_the_lab_through_access_helpers():
    lab_urls = [(route, view) for route, view in iter_patterns(get_resolver())
                if "<slug:lab_slug>" in route]
    assert lab_urls, "expected lab-scoped URLs"
    unscoped = [route for route, view in lab_urls if not getattr(view, "lab_scoped", False)]
    assert unscoped == []
