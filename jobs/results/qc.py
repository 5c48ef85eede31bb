"""QC figures of a job: reading `qc/{sample}.qc.json` (written by the pipeline's QC_SUMMARY step,
schema in nextflow/README.md) and how pages and the PDF report show each figure.

The pipeline publishes the file; the worker reads it with `read_qc_summary` and keeps the dict on
`Job.qc`, so pages never go back to storage for it. `qc_rows(job.qc)` gives what the job page,
the sample page, the admin and the PDF show.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings

SCHEMA = "wes-portal/qc/1"
MAX_BYTES = 1 << 20          # a summary is ~1 KB; anything this big is not one
STATUSES = ("pass", "warn")
VERDICTS = ("pass", "warn", "fail")   # in rising order of gravity
# Figure -> the pipeline param past which the run's verdict is "fail" (nextflow.config, group
# qc_verdict_options of nextflow_schema.json; a run records the values it used in metadata.json).
FAIL_LIMITS = {
    "q30_rate_after": ("min", "qc_fail_min_q30_rate"),
    "mapped_pct": ("min", "qc_fail_min_mapped_pct"),
    "duplication_pct": ("max", "qc_fail_max_duplication_pct"),
    "mean_target_depth": ("min", "qc_fail_min_mean_depth"),
    "pct_target_bases_ge_20x": ("min", "qc_fail_min_pct_bases_20x"),
}


class QcSummaryError(ValueError):
    """The QC summary file is missing, unreadable, or not a wes-portal/qc/1 summary."""


@dataclass(frozen=True)
class QcFigure:
    key: str            # key in qc.json
    label: str
    unit: str           # shown after the number: "reads", "%", "×"
    decimals: int
    scale: float = 1    # 100 for fractions shown as percentages
    low: float = 0      # allowed range of the stored value
    high: float = math.inf
    integer: bool = False

    def display(self, value) -> str:
        """The value as people read it: '59,312 reads', '86.22%', '74.1×', '–' when unknown."""
        if value is None:
            return "–"
        number = f"{value * self.scale:,.{self.decimals}f}"
        return f"{number} {self.unit}" if self.unit.isalpha() else f"{number}{self.unit}"


# In the order pages and the PDF show them.
QC_FIGURES: list[QcFigure] = [
    QcFigure("reads_before_filtering", "Reads before filtering", "reads", 0, integer=True),
    QcFigure("reads_after_filtering", "Reads after filtering", "reads", 0, integer=True),
    QcFigure("q30_rate_before", "Bases ≥ Q30 before filtering", "%", 1, scale=100, high=1),
    QcFigure("q30_rate_after", "Bases ≥ Q30 after filtering", "%", 1, scale=100, high=1),
    QcFigure("mapped_pct", "Reads mapped", "%", 2, high=100),
    QcFigure("properly_paired_pct", "Reads properly paired", "%", 2, high=100),
    QcFigure("duplication_pct", "Duplicate reads", "%", 2, high=100),
    QcFigure("mean_target_depth", "Mean target depth", "×", 1),
    QcFigure("pct_targets_ge_20x", "Targets with mean depth ≥ 20×", "%", 2, high=100),
    QcFigure("pct_target_bases_ge_20x", "Target bases ≥ 20×", "%", 2, high=100),
]
FIGURES_BY_KEY = {f.key: f for f in QC_FIGURES}


def read_qc_summary(path) -> dict:
    """Read and validate a qc.json file; return its dict unchanged.

    Raises QcSummaryError naming the file and every problem found, so that a bad file is reported
    once, in full, when the outputs are published."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise QcSummaryError(f"QC summary not found: {path}") from None
    except OSError as exc:
        raise QcSummaryError(f"cannot read the QC summary {path}: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise QcSummaryError(f"QC summary {path} is larger than {MAX_BYTES} bytes: not a summary")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise QcSummaryError(f"QC summary {path} is not valid JSON: {exc}") from None
    problems = qc_summary_problems(data)
    if problems:
        raise QcSummaryError(f"QC summary {path} is not a valid {SCHEMA} summary: "
                             + "; ".join(problems))
    return data


def qc_summary_problems(data) -> list[str]:
    """Everything wrong with a parsed summary, as short messages ('mapped_pct: missing')."""
    if not isinstance(data, dict):
        return [f"expected a JSON object, got {type(data).__name__}"]
    if data.get("schema") != SCHEMA:
        return [f"schema is {data.get('schema')!r}, expected {SCHEMA!r}"]
    problems = []
    if not isinstance(data.get("sample"), str) or not data["sample"]:
        problems.append("sample: missing")
    for fig in QC_FIGURES:
        if fig.key not in data:
            problems.append(f"{fig.key}: missing")
            continue
        value = data[fig.key]
        if value is None and not fig.integer:
            continue                      # a ratio with nothing to divide by
        if isinstance(value, bool) or not isinstance(value, int if fig.integer else (int, float)):
            kind = "a whole number" if fig.integer else "a number"
            problems.append(f"{fig.key}: {value!r} is not {kind}")
        elif not (fig.low <= value <= fig.high):
            limits = (f"between {fig.low} and {fig.high}" if fig.high != math.inf
                      else f"at least {fig.low}")
            problems.append(f"{fig.key}: {value} is not {limits}")
    for key in ("targets", "target_bases"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{key}: {value!r} is not a count")
    before, after = data.get("reads_before_filtering"), data.get("reads_after_filtering")
    if isinstance(before, int) and isinstance(after, int) and after > before:
        problems.append(f"reads_after_filtering ({after}) exceeds reads_before_filtering "
                        f"({before})")
    thresholds = data.get("thresholds", {})
    if not isinstance(thresholds, dict):
        problems.append("thresholds: not an object")
        thresholds = {}
    for key, rule in thresholds.items():
        if (key not in FIGURES_BY_KEY or not isinstance(rule, dict) or len(rule) != 1
                or next(iter(rule)) not in ("min", "max")
                or not isinstance(next(iter(rule.values())), (int, float))):
            problems.append(f"thresholds.{key}: {rule!r} is not {{'min' or 'max': number}} "
                            f"for a known figure")
    status = data.get("status", {})
    if not isinstance(status, dict):
        problems.append("status: not an object")
        status = {}
    for key, value in status.items():
        if key not in FIGURES_BY_KEY or value not in STATUSES:
            problems.append(f"status.{key}: {value!r} is not 'pass' or 'warn' for a known figure")
    if data.get("overall") not in (*STATUSES, None):
        problems.append(f"overall: {data.get('overall')!r} is not 'pass', 'warn' or null")
    return problems


@cache
def _schema_fail_limits() -> dict:
    schema = json.loads((Path(settings.BASE_DIR) / "nextflow" / "nextflow_schema.json")
                        .read_text(encoding="utf-8"))
    props = schema["definitions"]["qc_verdict_options"]["properties"]
    return {param: props[param]["default"] for _, param in FAIL_LIMITS.values()}


def qc_fail_limits(parameters: dict | None) -> dict:
    """{figure: {'min' or 'max': limit}}: the failure limits the run was given (its
    metadata.json `parameters`), else the pipeline's defaults (nextflow_schema.json)."""
    parameters, defaults = parameters or {}, _schema_fail_limits()
    limits = {}
    for key, (side, param) in FAIL_LIMITS.items():
        value = parameters.get(param, defaults[param])
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            limits[key] = {side: value}
    return limits


def _beyond(value, rule: dict) -> bool:
    side, limit = next(iter(rule.items()))
    return value < limit if side == "min" else value > limit


def figure_status(qc: dict, key: str) -> str | None:
    """'fail' past the run's failure limit, else the pipeline's own 'pass'/'warn' (None when the
    figure has no threshold). A share with nothing to divide by (no reads) fails."""
    value, rule = qc.get(key), (qc.get("fail_limits") or {}).get(key)
    if rule and (value is None or (isinstance(value, (int, float)) and _beyond(value, rule))):
        return "fail"
    return (qc.get("status") or {}).get(key)


def qc_verdict(qc: dict) -> str:
    """The run's overall QC verdict: 'fail' when a figure is past its failure limit or no read
    survived filtering, 'warn' when a figure missed the pipeline's threshold, else 'pass'; ''
    when the run left no QC summary."""
    if not qc:
        return ""
    if qc.get("reads_after_filtering") == 0:
        return "fail"
    statuses = {figure_status(qc, fig.key) for fig in QC_FIGURES if fig.key in qc}
    return next((v for v in reversed(VERDICTS) if v in statuses), "pass")


def qc_rows(qc: dict) -> list[dict]:
    """One row per figure present in a summary (e.g. `Job.qc`), in QC_FIGURES order:
    {key, label, value, display, status ('pass'/'warn'/'fail'/None), threshold (e.g. '≥ 95.00%',
    ''), fail_limit (e.g. '< 80.00%', ''), bar (0-100 for the figures that are shares: `*_pct`
    percentages, `*_rate` fractions; else None)}."""
    rows = []
    qc = qc or {}
    thresholds = qc.get("thresholds") or {}
    fail_limits = qc.get("fail_limits") or {}
    for fig in QC_FIGURES:
        if fig.key not in qc:
            continue
        rule = thresholds.get(fig.key) or {}
        threshold = ""
        if rule:
            side, limit = next(iter(rule.items()))
            threshold = f"{'≥' if side == 'min' else '≤'} {fig.display(limit)}"
        fail = fail_limits.get(fig.key) or {}
        fail_limit = ""
        if fail:
            side, limit = next(iter(fail.items()))
            fail_limit = f"{'<' if side == 'min' else '>'} {fig.display(limit)}"
        rows.append({"key": fig.key, "label": fig.label, "value": qc[fig.key],
                     "display": fig.display(qc[fig.key]), "status": figure_status(qc, fig.key),
                     "threshold": threshold, "fail_limit": fail_limit,
                     "bar": _bar(fig.key, qc[fig.key])})
    return rows


def qc_section(job) -> dict:
    """What a page's QC section (templates/jobs/_qc_figures.html) shows of `job` (None: no
    analysis yet): its figures, its verdict, and the figures that failed or warned."""
    rows = qc_rows(job.qc) if job else []
    return {"qc_job": job, "qc_figures": rows,
            "qc_failed": [r["label"] for r in rows if r["status"] == "fail"],
            "qc_warned": [r["label"] for r in rows if r["status"] == "warn"]}


def _bar(key: str, value) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if key.endswith("_pct"):
        return round(max(0.0, min(100.0, float(value))), 1)
    if key.endswith("_rate"):
        return round(max(0.0, min(100.0, float(value) * 100)), 1)
    return None
