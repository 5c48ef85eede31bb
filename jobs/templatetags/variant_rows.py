"""One row of the variant table, built in Python: fifty rows of thirteen cells as template nodes
were half of the viewer's time (bench/pages.py, 50,000 variants), and format_html's per-value
checks most of the rest. Every value goes through html.escape (what Django's escape does for a
plain string); the markup is what the template had (jobs/tests check it)."""

from html import escape

from django import template
from django.template.defaultfilters import title
from django.utils.dateformat import format as format_date
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime

register = template.Library()

DASH = "–"
MUTED_DASH = '<span class="muted">–</span>'


def _e(value) -> str:
    return escape(str(value))


@register.simple_tag
def variant_row(v: dict) -> SafeString:
    return mark_safe(
        f'<tr data-variant="{_e(v["variant_id"])}">{_position(v)}'
        f'<td class="allele" title="{_e(v["ref"])}>{_e(v["alt"])}">'
        f'{_e(v["ref"])}&gt;{_e(v["alt"])}</td>'
        f'<td class="gene">{_e(v["gene"] or DASH)}</td>'
        f'<td class="consequence">{_e(v["consequence"] or DASH)}</td>'
        f'{_impact(v["impact"])}{_hgvs(v)}{_population(v)}{_clinvar(v)}'
        f'<td>{_e(v["genotype"] or DASH)}</td>'
        f'{_number(v["depth"], "{}")}{_number(v["vaf"], "{:.2f}")}{_number(v["qual"], "{:.1f}")}'
        f'{_filter(v["filter"])}</tr>')


def _position(v) -> str:
    cell = (f'<td class="nowrap" title="{_e(v["variant_id"])}"><a href="{_e(v["url"])}" '
            f'data-classify>{_e(v["chrom"])}:{_e(v["pos"])}</a>')
    found = v.get("classification")
    if found:
        cls = _e(found.final_class)
        cell += (f'<br><span class="class-badge class-{cls}" data-class="{cls}">'
                 f'{_e(v["class_label"])}</span><span class="classified-when">classified '
                 f'{format_date(localtime(found.classified_at), "Y-m-d")} by '
                 f'{_e(found.classified_by.email)}</span>')
    if v.get("selected"):
        chosen = _e(v["selected"])
        cell += (f'<br><span class="status status-signed" data-selected="{chosen}">'
                 f'In report ({chosen})</span>')
    return cell + "</td>"


def _impact(impact: str) -> str:
    if not impact:
        return f"<td>{MUTED_DASH}</td>"
    return f'<td><span class="impact impact-{_e(impact.lower())}">{_e(title(impact))}</span></td>'


def _hgvs(v) -> str:
    transcript = (f'<span class="muted small">{_e(v["transcript"])}</span><br>'
                  if v["transcript"] else "")
    protein = v["hgvs_p"] or v["protein_change"]
    return (f'<td class="hgvs">{transcript}{_e(v["hgvs_c"] or v["dna_change"] or DASH)}'
            f'{"<br>" + _e(protein) if protein else ""}</td>')


def _population(v) -> str:
    if v["gnomad_af"] is None:
        return ('<td class="num"><span class="muted" title="not in the population database">'
                '–</span></td>')
    hom = (f'<br><span class="muted small">{_e(v["gnomad_hom"])} hom</span>'
           if v["gnomad_hom"] else "")
    return f'<td class="num">{v["gnomad_af"]:.2e}{hom}</td>'


def _clinvar(v) -> str:
    if not v["clinvar_significance"]:
        return f'<td class="clinvar">{MUTED_DASH}</td>'
    clinvar_id = (f'<br><span class="muted small">VCV {_e(v["clinvar_id"])}</span>'
                  if v["clinvar_id"] else "")
    return (f'<td class="clinvar"><span class="clinvar-{_e(v["clinvar_group"])}" '
            f'title="{_e(v["clinvar_review_status"])}">{_e(v["clinvar_label"])}</span>'
            f'{clinvar_id}</td>')


def _number(value, shown: str) -> str:
    return f'<td class="num">{DASH if value is None else _e(shown.format(value))}</td>'


def _filter(value: str) -> str:
    if value == "PASS":
        return '<td><span class="status status-verified">PASS</span></td>'
    return f"<td>{_e(value or DASH)}</td>"
