from datetime import timedelta

from django import template

from common.sizes import format_size

register = template.Library()


@register.filter
def size(value) -> str:
    """A size in bytes, in the portal's one unit system (binary: KiB, MiB, GiB; common/sizes.py)."""
    return format_size(value)


@register.filter
def duration_short(value: timedelta | None) -> str:
    """A turnaround as people say it: "3 d 4 h", "5 h 12 min", "42 min", "35 s"."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


@register.filter
def hours_2dp(hours: float | None) -> str:
    """Compute hours with two decimals, the usage page's one unit (chart and table alike); a
    non-zero figure too small to show says so instead of "0.00"."""
    if hours is None:
        return "–"
    if 0 < hours < 0.005:
        return "< 0.01"
    return f"{hours:,.2f}"
