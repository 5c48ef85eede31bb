"""Calendar months as the portal's reports use them: "YYYY-MM" in, [start, end) out, in the
portal's time zone (WES_TIME_ZONE)."""

from __future__ import annotations

from datetime import date, datetime, time

from django.utils import timezone


def parse_month(text: str) -> date:
    """The first day of the month written as YYYY-MM; ValueError with a sentence otherwise."""
    try:
        return datetime.strptime((text or "").strip(), "%Y-%m").date()
    except ValueError:
        raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, for example "
                         f"{timezone.localdate():%Y-%m}.") from None


def shift_month(month: date, months: int) -> date:
    """The first day of the month `months` after (or before) `month`."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def previous_month(today: date | None = None) -> date:
    return shift_month(today or timezone.localdate(), -1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[start, end) of the month in the portal's time zone."""
    first = month.replace(day=1)
    zone = timezone.get_current_timezone()
    return (datetime.combine(first, time.min, tzinfo=zone),
            datetime.combine(shift_month(first, 1), time.min, tzinfo=zone))
