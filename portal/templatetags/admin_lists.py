"""The admin's long lists drawn in Python (common/admin.py LargeTableChangeList)."""

from django import template
from django.template.defaultfilters import iriencode
from django.utils.html import format_html_join

register = template.Library()


@register.filter
def filter_links(choices) -> str:
    """A list filter's choices as admin/filter.html draws them: one link each, the chosen one
    marked `selected`."""
    return format_html_join(
        "\n", '<li{}><a href="{}">{}</a></li>',
        ((' class="selected"' if choice["selected"] else "", iriencode(choice["query_string"]),
          choice["display"]) for choice in choices))
