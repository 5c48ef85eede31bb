from datetime import timedelta

from django import template

from common import durations
from common.sizes import format_size

register = template.Library()


@register.filter
def size(value) -> str:
    """A size in bytes, in the portal's one unit system (binary: KiB, MiB, GiB; common/sizes.py)."""
    return format_size(value)


@register.filter
def duration_short(value: timedelta | None) -> str:
    """A turnaround as people say it (common/durations.py)."""
    return durations.duration_short(value)


@register.filter
def hours_2dp(hours: float | None) -> str:
    """Compute hours with two decimals, the usage page's one unit (chart and table alike); a
    non-zero figure too small to show says so instead of "0.00"."""
    if hours is None:
        return "–"
    if 0 < hours < 0.005:
        return "< 0.01"
    return f"{hours:,.2f}"
