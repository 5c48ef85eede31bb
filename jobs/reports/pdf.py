"""The clinical PDF report: plain data in (ReportContent, jobs/reports/report_data.py), PDF bytes
out. No ORM access here; jobs/reports/content.py builds the content from the database rows.

reportlab, not an HTML-to-PDF engine: it needs no Pango/Cairo system libraries, its tables split
over pages precisely (with repeated header rows), and with `invariant=1` and a creation date
taken from the content the same content always gives the same bytes, so a PDF's SHA-256 can be
recorded at sign-out and checked again later.

Fonts are Bitstream Vera, shipped inside the reportlab wheel and embedded (subset) in every PDF,
so a report looks the same on any machine. A character Vera has no glyph for is printed as "?"
rather than as an invisible or blank box.
"""

from __future__ import annotations

import io
import os
import time
from datetime import datetime, timezone
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (BaseDocTemplate, CondPageBreak, Frame, KeepTogether, PageTemplate, Paragraph,
                                Spacer, Table, TableStyle)

from jobs.reports.report_data import (AWAITING_SIGN_OUT, DRAFT_BANNER, NO_VARIANTS,
                                      SELECTION_RULE, ReportContent, ReportVariant)

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 16 * mm
HEADER_HEIGHT = 20 * mm
FOOTER_HEIGHT = 14 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#52606d")
RULE = colors.HexColor("#9aa5b1")
HEAD_FILL = colors.HexColor("#243b53")
ZEBRA = colors.HexColor("#f0f4f8")
DRAFT_RED = colors.HexColor("#b42318")
DRAFT_FILL = colors.HexColor("#fef3f2")
SIGNED_GREEN = colors.HexColor("#05603a")
SIGNED_FILL = colors.HexColor("#ecfdf3")
STATUS_COLOURS = {"pass": colors.HexColor("#05603a"), "warn": colors.HexColor("#b54708"),
                  "fail": DRAFT_RED}


_FONT_DIR = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
_FONTS = {"WesSans": "Vera.ttf", "WesSans-Bold": "VeraBd.ttf", "WesSans-Italic": "VeraIt.ttf",
          "WesSans-BoldItalic": "VeraBI.ttf"}
for _name, _file in _FONTS.items():
    if _name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_name, os.path.join(_FONT_DIR, _file)))
pdfmetrics.registerFontFamily("WesSans", normal="WesSans", bold="WesSans-Bold",
                              italic="WesSans-Italic", boldItalic="WesSans-BoldItalic")
_GLYPHS = frozenset(pdfmetrics.getFont("WesSans").face.charToGlyph)
MONO = "Courier"   # for the SHA-256 only: hex digits, which every standard font has


def _printable(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")   # browsers send CRLF
    return "".join(ch if ord(ch) in _GLYPHS or ch in "\n\t" else "?" for ch in text)


def _markup(text: str) -> str:
    """Plain text as Paragraph markup: escaped, unsupported characters visible, line breaks kept."""
    return escape(_printable(text)).replace("\n", "<br/>")


def _date(value: datetime | None, with_time: bool = False) -> str:
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


def _style(name, size=9, leading=None, font="WesSans", colour=INK, **kw):
    return ParagraphStyle(name, fontName=font, fontSize=size, leading=leading or size * 1.3,
                          textColor=colour, **kw)


BODY = _style("body", spaceAfter=4)
SMALL_MUTED = _style("small-muted", size=7.5, colour=MUTED)
CELL = _style("cell", size=8)
CELL_BOLD = _style("cell-bold", size=8, font="WesSans-Bold")
HEAD_CELL = _style("head-cell", size=8, font="WesSans-Bold", colour=colors.white)
LABEL = _style("label", size=8, colour=MUTED)
H3 = _style("h3", size=9, font="WesSans-Bold")
AMEND_HEAD = _style("amend-head", size=9.5, font="WesSans-Bold")
QC_STATUS = {status: _style(f"qc-{status}", size=8, font="WesSans-Bold", colour=colour)
             for status, colour in STATUS_COLOURS.items()}
TITLE = _style("title", size=16, leading=20, font="WesSans-Bold", spaceAfter=2)
SUBTITLE = _style("subtitle", size=9, colour=MUTED, spaceAfter=6)
H2 = _style("h2", size=11.5, leading=14, font="WesSans-Bold", colour=HEAD_FILL, spaceBefore=10,
            spaceAfter=4, keepWithNext=1)
NOTE = _style("note", font="WesSans-Italic")
LIMITATION = _style("limitation", size=8.5, spaceAfter=4)
BANNER_DRAFT = _style("banner-draft", size=10, leading=13, font="WesSans-Bold", colour=DRAFT_RED)
BANNER_TEXT = _style("banner-text", size=8.5, colour=INK)
SIGN_HEAD = _style("sign-head", size=10, font="WesSans-Bold", colour=SIGNED_GREEN)
SIGNED_LINE = _style("signed-line", size=9, font="WesSans-Bold", colour=SIGNED_GREEN)
HASH = _style("hash", size=7.5, font=MONO, colour=INK)


def _p(text: str, style=BODY) -> Paragraph:
    return Paragraph(_markup(text), style)


def _boxed(rows, fill, border) -> Table:
    table = Table([[row] for row in rows], colWidths=[CONTENT_WIDTH])
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), fill), ("BOX", (0, 0), (-1, -1), 1, border),
        ("LEFTPADDING", (0, 0), (-1, -1), 8), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ("TOPPADDING", (0, 0), (-1, 0), 6), ("BOTTOMPADDING", (0, -1), (-1, -1), 6),
        ("TOPPADDING", (0, 1), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -2), 1)]))
    return table


def _grid(data, col_widths, header=True, zebra=True, repeat=True) -> Table:
    table = Table(data, colWidths=col_widths, repeatRows=1 if header and repeat else 0)
    style = [("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
             ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
             ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE)]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), HEAD_FILL)]
    if zebra:
        style += [("ROWBACKGROUNDS", (0, 1 if header else 0), (-1, -1), [colors.white, ZEBRA])]
    table.setStyle(TableStyle(style))
    return table


def _key_values(pairs) -> Table:
    """Label/value pairs two to a row; the right-hand values get more room (the job's UUID)."""
    cells = [[Paragraph(_markup(k), LABEL), Paragraph(_markup(v), CELL_BOLD)] for k, v in pairs]
    if len(cells) % 2:
        cells.append(["", ""])
    rows = [cells[i] + cells[i + 1] for i in range(0, len(cells), 2)]
    w = CONTENT_WIDTH
    return _grid(rows, [0.165 * w, 0.26 * w, 0.165 * w, 0.41 * w], header=False, zebra=False)


def _heading(content: ReportContent) -> list:
    parts = [_p(content.title, TITLE),
             _p(f"{content.lab_name}  |  Report version {content.report_version}  |  "
                f"generated {_date(content.generated_at, with_time=True)}", SUBTITLE)]
    if content.is_draft:
        parts.append(_boxed(
            [_p(DRAFT_BANNER.upper(), BANNER_DRAFT),
             _p("This report has not been reviewed and signed out by the laboratory. Do not use "
                "it for clinical decisions.", BANNER_TEXT)], DRAFT_FILL, DRAFT_RED))
    else:
        sig = content.signature
        parts.append(_p(f"Signed out {_date(sig.signed_at, with_time=True)} by {sig.signer}: "
                        f"{sig.meaning}.", SIGNED_LINE))
    if content.amends_version is not None:
        parts += [Spacer(1, 4), _boxed(
            [_p(f"Amended report: version {content.report_version} replaces version "
                f"{content.amends_version}.", AMEND_HEAD),
             _p(f"Reason for amendment: {content.amendment_reason or 'not given'}",
                BANNER_TEXT)], colors.HexColor("#fffaeb"), colors.HexColor("#b54708"))]
    return parts


def _sample_section(content: ReportContent) -> list:
    pairs = [("Sample", content.sample_name), ("Pseudonymous ID", content.external_id),
             ("Sex", content.sex or "-"), ("Job", content.job_id),
             ("Received", _date(content.received_at)), ("Analysed", _date(content.analysed_at)),
             ("Report generated", _date(content.generated_at)),
             ("Report version", str(content.report_version))]
    hpo = ", ".join(content.hpo_terms) if content.hpo_terms else "none given"
    return [_p("Sample and request", H2), _key_values(pairs), Spacer(1, 6),
            _p("Clinical indication", H3),
            _p(content.clinical_indication or "not given"),
            _p(f"HPO terms: {hpo}", BODY)]


VARIANT_COLUMNS = [("Gene / transcript / position", 0.22), ("HGVS c. / p.", 0.18),
                   ("Zygosity / depth, VAF", 0.14), ("Population AF", 0.12),
                   ("ClinVar", 0.14), ("Classification / criteria", 0.20)]


def _lines(*markup: str) -> Paragraph:
    return Paragraph("<br/>".join(markup), CELL)


def _frequency(v: ReportVariant) -> str:
    if v.gnomad_af is None:
        return "absent"
    hom = f"<br/>{v.gnomad_hom} hom" if v.gnomad_hom is not None else ""
    return f"{v.gnomad_af:.2e}{hom}"


def _variant_row(v: ReportVariant) -> list:
    vaf = f"{v.vaf:.2f}" if v.vaf is not None else "-"
    depth = str(v.depth) if v.depth is not None else "-"
    return [
        _lines(f"<b>{_markup(v.gene or '-')}</b>", _markup(v.transcript or "-"),
               f"<font size=6.5>{_markup(v.location)}<br/>{_markup(v.variant_id)}</font>"),
        _lines(_markup(v.hgvs_c or "-"), _markup(v.hgvs_p or "-"),
               f"<font size=6.5>{_markup((v.consequence or '-').replace('&', ' & '))} "
               f"({_markup(v.impact or '-')})</font>"),
        _lines(_markup(v.zygosity), f"{_markup(v.genotype or '-')}, DP {depth}, VAF {vaf}"),
        _lines(_frequency(v)),
        _lines(_markup(v.clinvar.replace("_", " ") or "not listed")),
        _lines(f"<b>{_markup(v.classification or '-')}</b>",
               _markup(", ".join(v.criteria) or "no criteria recorded")),
    ]


def _variant_table(variants) -> list:
    data = [[Paragraph(label, HEAD_CELL) for label, _ in VARIANT_COLUMNS]]
    for v in variants:
        data.append(_variant_row(v))
    table = _grid(data, [w * CONTENT_WIDTH for _, w in VARIANT_COLUMNS])
    parts = [table]
    comments = [(v, v.comment.strip()) for v in variants if v.comment.strip()]
    for v, comment in comments:
        parts.append(Paragraph(f"<b>{_markup(v.gene or v.location)} {_markup(v.hgvs_c)}</b>: "
                               f"{_markup(comment)}", CELL))
    return parts


def _result_section(content: ReportContent) -> list:
    """Page 1: what was found, in one box."""
    primary = [v for v in content.variants if v.category == "primary"]
    secondary = [v for v in content.variants if v.category == "secondary"]
    scope = f" in the genes of the panel {content.panel.name}" if content.panel else ""
    if content.result_summary.strip():
        headline = content.result_summary.strip()
    elif 0 < len(primary) <= 3:
        headline = "; ".join(f"{v.classification or 'Unclassified'} variant in "
                             f"{v.gene or v.location}" for v in primary) + "."
    elif primary:
        headline = f"{len(primary)} variants reported: see Reported variants."
    else:
        headline = f"{NO_VARIANTS}{scope}."
    rows = [_p("Result", H3), _p(headline, CELL_BOLD)]
    if primary or secondary:
        rows.append(_p(f"{len(primary)} primary finding{'s' if len(primary) != 1 else ''}"
                       + (f", {len(secondary)} secondary finding"
                          f"{'s' if len(secondary) != 1 else ''}" if secondary else "")
                       + f"{scope}.", BODY))
    return [_boxed(rows, ZEBRA, RULE), Spacer(1, 4)]


# A heading starts a new page when less than this is left below it: room for the heading and
# a first row, so no heading is left alone at the foot of a page (and no page left half empty,
# which keeping a heading with its whole, many-page table would do).
ROOM_FOR_A_TABLE = 45 * mm


def _variants_section(content: ReportContent) -> list:
    parts = [CondPageBreak(ROOM_FOR_A_TABLE), _p("Reported variants", H2),
             _p(SELECTION_RULE, SMALL_MUTED), Spacer(1, 3)]
    if not content.variants:
        scope = f" in the genes of the panel {content.panel.name}" if content.panel else ""
        parts.append(_boxed([_p(f"{NO_VARIANTS}{scope}.", CELL_BOLD),
                             _p("A negative result depends on the coverage of the genes "
                                "examined: see Methods.", CELL)], ZEBRA, RULE))
        return parts
    primary = [v for v in content.variants if v.category == "primary"]
    secondary = [v for v in content.variants if v.category == "secondary"]
    if primary:
        parts += [_p("Primary findings", H3)] + _variant_table(primary)
    if secondary:
        parts += [Spacer(1, 4), CondPageBreak(ROOM_FOR_A_TABLE - 15 * mm),
                  _p("Secondary findings", H3)] + _variant_table(secondary)
    return parts


def _interpretation_section(content: ReportContent) -> list:
    parts = [_p("Interpretation", H2)]
    text = content.interpretation.replace("\r\n", "\n").strip()
    if not text:
        return parts + [_p("No interpretation has been entered yet." if content.is_draft
                           else "No interpretation was given.", NOTE)]
    return parts + [_p(block.strip()) for block in text.split("\n\n") if block.strip()]


def _qc_section(content: ReportContent) -> list:
    parts = [_p("Quality control", H2)]
    if not content.qc:
        return parts + [_p("No quality-control figures were recorded for this run.")]
    data = [[Paragraph(h, HEAD_CELL) for h in ("Metric", "Value", "Threshold", "Status")]]
    for label, value, status, threshold in content.qc:
        data.append([_p(label, CELL), _p(value, CELL_BOLD), _p(threshold or "-", CELL),
                     _p(status.upper() or "-", QC_STATUS.get(status.lower(), CELL_BOLD))])
    w = CONTENT_WIDTH
    return parts + [_grid(data, [0.45 * w, 0.22 * w, 0.18 * w, 0.15 * w])]


def _methods_section(content: ReportContent) -> list:
    pairs = [("Runner", content.runner or "not recorded"),
             ("Pipeline", content.pipeline_version or "not recorded"),
             ("Reference build", content.reference_build or "not recorded")]
    parts = [_p("Methods", H2),
             _p("Paired-end reads were quality-filtered, aligned to the reference genome, sorted "
                "and duplicate-marked; small variants (SNVs and short indels) were called, "
                "normalised, soft-filtered and annotated with their predicted consequence on the "
                "reference annotation's transcripts. The tools and versions used are listed "
                "below."),
             _key_values(pairs), Spacer(1, 6)]
    if content.tools:
        data = [[Paragraph(h, HEAD_CELL) for h in ("Tool", "Version")]]
        data += [[_p(name, CELL), _p(version or "not recorded", CELL)]
                 for name, version in sorted(content.tools.items())]
        parts.append(_grid(data, [0.35 * CONTENT_WIDTH, 0.65 * CONTENT_WIDTH], zebra=True))
    if content.parameters:
        text = ", ".join(f"{k} = {v}" for k, v in sorted(content.parameters.items()))
        parts += [Spacer(1, 4), _p(f"Parameters: {text}", SMALL_MUTED)]
    if content.sources:
        data = [[Paragraph(h, HEAD_CELL) for h in ("Annotation source", "Version", "SHA-256")]]
        data += [[_p(name, CELL), _p(version or "not recorded", CELL),
                  Paragraph(escape(digest[:16] + "…" if digest else "-"), HASH)]
                 for name, version, digest in content.sources]
        parts += [Spacer(1, 4),
                  _grid(data, [0.35 * CONTENT_WIDTH, 0.3 * CONTENT_WIDTH, 0.35 * CONTENT_WIDTH])]
    panel = content.panel
    if panel:
        coverage = (f"{panel.pct_20x}% of its genes' coding bases were covered at 20x or more"
                    if panel.pct_20x is not None else "its coverage was not measured")
        text = (f"Gene panel: {panel.name} ({panel.genes} genes); {coverage}.")
        if panel.below_100:
            text += (" Genes not fully covered at 20x: " + ", ".join(panel.below_100) + ".")
        parts += [Spacer(1, 4), _p(text, BODY)]
    return parts


def _limitations_section(content: ReportContent) -> list:
    return [_p("Limitations", H2)] + [_p(block.strip(), LIMITATION)
                                      for block in content.limitations.split("\n\n")
                                      if block.strip()]


def _signature_section(content: ReportContent) -> list:
    heading = _p("Sign-out", H2)
    sig = content.signature
    if sig is None:
        box = _boxed([_p(AWAITING_SIGN_OUT, BANNER_DRAFT),
                      _p("Signed by: -    Signed at: -    Meaning: -", BANNER_TEXT),
                      _p("This draft becomes a clinical report only when a laboratory manager "
                         "reviews and signs it out.", BANNER_TEXT)], DRAFT_FILL, DRAFT_RED)
        return [KeepTogether([heading, box])]
    rows = [_p(f"Electronically signed - {sig.meaning}", SIGN_HEAD),
            _p(f"Signed by: {sig.signer} <{sig.signer_email}>", BANNER_TEXT),
            _p(f"Signed at: {_date(sig.signed_at, with_time=True)}", BANNER_TEXT),
            _p(f"Report version: {sig.version}", BANNER_TEXT)]
    if sig.comment.strip():
        rows.append(_p(f"Comment: {sig.comment.strip()}", BANNER_TEXT))
    rows += [_p("SHA-256 of the approved draft PDF:", BANNER_TEXT),
             Paragraph(escape(sig.approved_sha256), HASH)]
    return [KeepTogether([heading, _boxed(rows, SIGNED_FILL, SIGNED_GREEN)])]


class _FixedTimeStamp:
    """What reportlab's TimeStamp offers, for a fixed moment (the report's generation time)."""

    def __init__(self, moment: datetime):
        moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment
        self.t = moment.replace(tzinfo=timezone.utc).timestamp()
        self.lt = time.gmtime(self.t)
        self.YMDhms = tuple(self.lt)[:6]
        self.dhh = self.dmm = 0
        self.tzname = "UTC"


def _canvas_class(content: ReportContent):
    class ReportCanvas(Canvas):
        """Holds pages back until the end, to print "page x of y" on each."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # reportlab has no public setter for the creation date (SOURCE_DATE_EPOCH would set
            # it for the whole process); invariant mode would stamp 2000-01-01 instead.
            self._doc._timeStamp = _FixedTimeStamp(content.generated_at)
            self._pages = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._footer(number, total)
                if content.is_draft:
                    self._watermark()
                super().showPage()
            super().save()

        def _watermark(self):
            # Drawn last and translucent, so table fills cannot hide it and the text stays legible.
            self.saveState()
            self.setFillColor(colors.Color(0.85, 0.2, 0.15, alpha=0.09))
            self.setFont("WesSans-Bold", 110)
            self.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
            self.rotate(55)
            self.drawCentredString(0, -38, "DRAFT")
            self.restoreState()

        def _footer(self, number, total):
            self.saveState()
            y = MARGIN - 2
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(MARGIN, y + 10, PAGE_WIDTH - MARGIN, y + 10)
            self.setFont("WesSans", 7.5)
            self.setFillColor(MUTED)
            left = f"Job {content.job_id}  |  generated {_date(content.generated_at, True)}"
            self.drawString(MARGIN, y, _printable(left))
            self.drawRightString(PAGE_WIDTH - MARGIN, y, f"Page {number} of {total}")
            status = DRAFT_BANNER if content.is_draft else (
                f"Signed out {_date(content.signature.signed_at)}")
            self.setFont("WesSans-Bold", 7.5)
            self.setFillColor(DRAFT_RED if content.is_draft else SIGNED_GREEN)
            self.drawCentredString(PAGE_WIDTH / 2, y - 9, status)
            self.restoreState()

    return ReportCanvas


def _draw_fitted(canvas, x, y, text, font, size, width, min_size=5.5, align_right=False):
    """One line of page furniture within `width`: a smaller font down to `min_size`, then cut
    with "..." (the identifiers' 64 characters fit at 5.5 pt)."""
    text = _printable(text)
    while size > min_size and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 0.5
    while len(text) > 4 and pdfmetrics.stringWidth(text, font, size) > width:
        text = text[:-4] + "..."
    canvas.setFont(font, size)
    (canvas.drawRightString if align_right else canvas.drawString)(x, y, text)


def _on_page(content: ReportContent):
    def draw(canvas, doc):
        canvas.saveState()
        top = PAGE_HEIGHT - MARGIN
        left, right = CONTENT_WIDTH * 0.38, CONTENT_WIDTH * 0.6
        canvas.setFillColor(HEAD_FILL)
        _draw_fitted(canvas, MARGIN, top - 8, content.lab_name, "WesSans-Bold", 10, left,
                     min_size=8)
        # The identifiers on every page, so a loose page can be matched to its report; a long
        # one gets a smaller font rather than a cut.
        _draw_fitted(canvas, PAGE_WIDTH - MARGIN, top - 8, f"Sample {content.sample_name}",
                     "WesSans-Bold", 8, right, align_right=True)
        canvas.setFillColor(MUTED)
        _draw_fitted(canvas, MARGIN, top - 18, content.title, "WesSans", 8, left, min_size=7)
        _draw_fitted(canvas, PAGE_WIDTH - MARGIN, top - 18,
                     f"ID {content.external_id}  |  Report v{content.report_version}",
                     "WesSans", 8, right, align_right=True)
        canvas.setStrokeColor(HEAD_FILL)
        canvas.setLineWidth(1)
        canvas.line(MARGIN, top - 23, PAGE_WIDTH - MARGIN, top - 23)
        canvas.restoreState()

    return draw


def render_report_pdf(content: ReportContent) -> bytes:
    """The report as an A4 PDF. The same content gives the same bytes."""
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
        topMargin=MARGIN + HEADER_HEIGHT - 6 * mm, bottomMargin=MARGIN + FOOTER_HEIGHT - 6 * mm,
        title=_printable(f"{content.title} - {content.sample_name} - v{content.report_version}"),
        author=_printable(content.lab_name), subject=_printable(content.external_id),
        creator="WES Portal", invariant=1, pageCompression=1)
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="report", frames=[frame], onPage=_on_page(content))])
    # What the reader came for first (page 1): the result and its interpretation; then whose
    # sample, the variants behind the result, and the QC, methods and limitations after them.
    story = (_heading(content) + _result_section(content) + _interpretation_section(content)
             + _sample_section(content) + _variants_section(content)
             + _qc_section(content)
             + _methods_section(content) + _limitations_section(content)
             + _signature_section(content))
    doc.build(story, canvasmaker=_canvas_class(content))
    return buffer.getvalue()
