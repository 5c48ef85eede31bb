"""What a lab's home page lists besides its members. The apps above tenants (samples, reports)
add their lists here when they start (jobs/apps.py), so the page shows them without tenants
importing a layer above it."""

from __future__ import annotations

from typing import Callable

# Each takes the member's membership and returns template context for tenants/lab_home.html.
_SECTIONS: list[Callable[..., dict]] = []


def register_home_section(section: Callable[..., dict]) -> Callable[..., dict]:
    if section not in _SECTIONS:
        _SECTIONS.append(section)
    return section


def home_sections(membership) -> dict:
    context: dict = {}
    for section in _SECTIONS:
        context.update(section(membership))
    return context
