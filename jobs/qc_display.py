"""QC figures as the job page shows them: label, formatted value, pass/warn status, and a bar for
the figures that are shares (`*_pct` are percentages, `*_rate` fractions)."""

from jobs.qc import qc_rows


def qc_figures(qc: dict) -> list[dict]:
    figures = []
    for row in qc_rows(qc or {}):
        value, key = row["value"], row["key"]
        bar = None
        if isinstance(value, (int, float)):
            if key.endswith("_pct"):
                bar = max(0.0, min(100.0, float(value)))
            elif key.endswith("_rate"):
                bar = max(0.0, min(100.0, float(value) * 100))
        figures.append({"key": key, "label": row["label"], "text": row["display"],
                        "status": row["status"] or "", "threshold": row["threshold"],
                        "bar": None if bar is None else round(bar, 1)})
    return figures
