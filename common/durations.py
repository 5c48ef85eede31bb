"""A duration as people say it, for every page that shows one (turnarounds, waits)."""

from datetime import timedelta


def duration_short(value: timedelta | None) -> str:
    """"3 d 4 h", "5 h 12 min", "42 min", "35 s"; "–" for none."""
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
