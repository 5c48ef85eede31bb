"""Sizes in one unit system (binary: KiB, MiB, GiB) on every page, in the admin and in messages:
one formatter (common/sizes.py) behind the template filter `size`, and no template left on
Django's filesizeformat (binary maths under decimal labels)."""

from pathlib import Path

from django.template import Context, Template

from common.sizes import format_size

ROOT = Path(__file__).resolve().parents[2]


def test_it_formats_sizes_in_binary_units():
    assert format_size(0) == "0\xa0bytes"
    assert format_size(1) == "1\xa0byte"
    assert format_size(1234) == "1.2\xa0KiB"
    assert format_size(16 * 1024**2) == "16.0\xa0MiB"
    assert format_size(50 * 1024**3) == "50.00\xa0GiB"
    assert format_size(12_345_678_901) == "11.50\xa0GiB"
    assert format_size(2 * 1024**4) == "2.00\xa0TiB"
    assert format_size(None) == "–"


def test_the_template_filter_is_the_same_formatter():
    html = Template("{% load portal_format %}{{ n|size }}").render(Context({"n": 5 * 1024**2}))
    assert html == "5.0\xa0MiB"


def test_no_template_or_module_formats_sizes_another_way():
    offenders = [str(p.relative_to(ROOT)) for folder in ("templates", "jobs", "tenants", "storage",
                                                         "portal", "common")
                 for p in (ROOT / folder).rglob("*") if p.suffix in (".html", ".py")
                 and "filesizeformat" in p.read_text(encoding="utf-8")
                 and p.name != "test_sizes.py"]
    assert offenders == []
    progress = (ROOT / "frontend" / "src" / "progress.js").read_text()
    assert "'MiB'" in progress and "'GiB'" in progress and "1e6" not in progress
