"""Sizes as people read them, in one unit system: binary (IEC), 1 KiB = 1,024 bytes,
1 MiB = 1,024 KiB, 1 GiB = 1,024 MiB. The portal's own limits are powers of two (16 MiB upload
parts, a 50 GiB FASTQ limit), so they read as round numbers. The template filter `size`
(portal/templatetags/portal_format.py) and the upload page's `formatBytes` and `formatSpeed`
(frontend/src/progress.js) follow the same rules."""

SIZE_UNITS = ((1024**4, "TiB", 2), (1024**3, "GiB", 2), (1024**2, "MiB", 1), (1024, "KiB", 1))


def format_size(value) -> str:
    """"512 bytes", "1.2 KiB", "52.4 MiB", "12.35 GiB"; "–" when unknown. The number and its unit
    are joined by a no-break space so that a table cell never splits them."""
    if value is None or value == "":
        return "–"
    try:
        number = int(value)
    except (TypeError, ValueError):
        return "–"
    for factor, unit, decimals in SIZE_UNITS:
        if abs(number) >= factor:
            return f"{number / factor:,.{decimals}f}\xa0{unit}"
    return f"{number}\xa0byte{'' if number == 1 else 's'}"
