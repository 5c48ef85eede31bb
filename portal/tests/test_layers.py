"""The layer table of DESIGN.md ("Layers and folders"), executable: every module's imports are
read (ast, without running them) and an import that runs back up a layer fails the build, naming
the file, the line and the import.

Bottom to top: `common` (shared helpers) < `storage` (S3 core) < `tenants` < `jobs.models` (the
jobs app's tables) < `jobs.intake` < `jobs.runs` < `jobs.results` < `jobs.review` < `jobs.reports` <
`jobs.records` < `jobs` (the app shell: admin, urls, tasks, commands) < `portal` (the composition
root). A module imports its own layer and the ones below it. `tests` (generators, clients,
helpers) is for test code only: no module of the portal imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS = ["common", "storage", "tenants", "jobs.models", "jobs.intake", "jobs.runs",
          "jobs.results", "jobs.review", "jobs.reports", "jobs.records", "jobs", "portal"]
TEST_ONLY = "tests"
CHECKED = ["common", "storage", "tenants", "jobs", "portal"]


def layer_of(module: str) -> str | None:
    """The most specific layer a dotted module name belongs to; None for anything else (the
    standard library, Django, other packages)."""
    for layer in sorted(LAYERS + [TEST_ONLY], key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_test_code(module: str) -> bool:
    parts = module.split(".")
    return "tests" in parts or parts[-1] == "conftest" or parts[-1].startswith("test_")


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in the source, relative ones resolved; `from a import
    b` counts as a.b, since b may be a module."""
    package = module.split(".")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level]
                base = ".".join(anchor + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}" if base else alias.name)
                      for alias in node.names]
    return found


def violations(source: str, module: str, path: str) -> list[str]:
    """Each import of `module` (whose text is `source`) that runs against the layer order."""
    own = layer_of(module)
    if own is None or own == TEST_ONLY:
        return []
    testing = is_test_code(module)
    problems = []
    for line, name in imported_modules(source, module):
        target = layer_of(name)
        if target is None:
            continue
        if target == TEST_ONLY:
            if not testing:
                problems.append(f"{path}:{line} imports {name}: test-only code, in a module "
                                f"the portal runs")
        elif LAYERS.index(target) > LAYERS.index(own):
            problems.append(f"{path}:{line} imports {name}: {own} must not import {target}, "
                            f"a layer above it")
    return problems


def python_files():
    for top in CHECKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_it_finds_no_import_against_the_layer_order():
    problems = []
    for path in python_files():
        problems += violations(path.read_text(), module_name(path),
                               str(path.relative_to(ROOT)))
    assert not problems, "imports against DESIGN.md's layers:\n" + "\n".join(problems)


def test_it_reads_every_layer():
    modules = {layer_of(module_name(path)) for path in python_files()}
    assert set(LAYERS) <= modules


@pytest.mark.parametrize("module, source, expected", [
    ("storage.s3", "from jobs.models import Job\n", "storage/s3.py:1 imports jobs.models.Job: "
     "storage must not import jobs.models, a layer above it"),
    ("jobs.runs.runner", "import os\n\nfrom jobs.results import publishing\n",
     "jobs/runs/runner.py:3 imports jobs.results.publishing: jobs.runs must not import "
     "jobs.results, a layer above it"),
    ("jobs.intake.services", "from ..reports.services import report_sign_out\n",
     "jobs/intake/services.py:1 imports jobs.reports.services.report_sign_out: jobs.intake "
     "must not import jobs.reports, a layer above it"),
    ("tenants.services", "def f():\n    from portal.settings import DEBUG\n",
     "tenants/services.py:2 imports portal.settings.DEBUG: tenants must not import portal, "
     "a layer above it"),
    ("jobs.intake.services", "from tests.fastq_data import write_fastq_pair\n",
     "jobs/intake/services.py:1 imports tests.fastq_data.write_fastq_pair: test-only code, "
     "in a module the portal runs"),
])
def test_it_names_the_file_and_the_import_that_runs_back_up(module, source, expected):
    path = module.replace(".", "/") + ".py"
    assert violations(source, module, path) == [expected]


@pytest.mark.parametrize("module, source", [
    ("jobs.records.archiving", "from jobs.runs.models import Job\nfrom storage import s3\n"),
    ("jobs.runs.runner", "from jobs.models import Job\nfrom common.db import for_update\n"),
    ("portal.urls", "from jobs import urls\nfrom tenants import views\n"),
    ("storage.tests.test_keys", "from tests.helpers import make_user\n"),
    ("jobs.results.variants", "from django.db import connection\nimport json\n"),
])
def test_it_lets_imports_run_down_the_layers(module, source):
    assert violations(source, module, "x.py") == []
