"""Cells of the CSV files people download and open in a spreadsheet."""

import json
from datetime import datetime

from django.utils import timezone

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: exports carry what people typed (a lab's name, a
    claimed email at a failed sign-in), and a leading "=" would otherwise run as a formula when
    opened. Numbers stay numbers (a negative one is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.get_current_timezone()).isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
